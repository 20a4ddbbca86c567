"""Turning Django model validation into Octet's user-facing errors."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models

from octet.core.errors import InvalidInput
from octet.core.money import Money


def messages_of(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(
            f"{field}: {' '.join(msgs)}" if field != "__all__" else " ".join(msgs)
            for field, msgs in exc.message_dict.items()
        )
    return " ".join(exc.messages)


def clean_or_refuse(instance: models.Model, exclude: list[str] | None = None) -> None:
    """Run full_clean(); on failure raise InvalidInput naming each bad field."""
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as exc:
        raise InvalidInput(messages_of(exc)) from exc


def money_input(value: object, currency: str, field: str) -> Money:
    """An amount typed by a person or sent by a client, or InvalidInput naming the field.

    Exact only: more decimal places than the currency has is refused, never rounded; an
    amount too large for the money columns (15 integer digits) is refused, not overflowed.
    """
    try:
        money = Money(Decimal(str(value).strip()), currency)
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise InvalidInput(f"{value!r} is not an amount in {currency}", field=field) from exc
    if abs(money.amount) >= MAX_AMOUNT:
        raise InvalidInput(f"{value!r} is too large an amount", field=field)
    return money


# Money columns hold 18 digits with 3 decimals (billing.models.MONEY).
MAX_AMOUNT = Decimal(10) ** 15


def percent_input(value: object, field: str) -> Decimal:
    """A percentage between 0 and 100 (a tax rate, a discount), or InvalidInput."""
    try:
        rate = Decimal(str(value).strip())
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise InvalidInput(f"{value!r} is not a percentage", field=field) from exc
    if not rate.is_finite() or not 0 <= rate <= 100:
        raise InvalidInput(f"{value!r} is not a percentage between 0 and 100", field=field)
    return rate
