"""Prepaid vouchers: printed recharge codes sold through shops and redeemed by customers."""
