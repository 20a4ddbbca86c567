"""Turning Django model validation into Octet's user-facing errors."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from octet.core.errors import InvalidInput


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
