"""Octet: billing, metering and RADIUS AAA for internet service providers."""

__version__ = "0.1.0"
