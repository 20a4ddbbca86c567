"""Errors that carry a message meant for the person who gave the input."""

from __future__ import annotations


class OctetError(Exception):
    """Base of every refusal Octet explains to a user (HTTP 4xx, CLI exit 2, RADIUS reject)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidInput(OctetError):
    """The request itself is wrong (bad value, missing field)."""


class NotFound(OctetError):
    """The thing named does not exist."""


class Conflict(OctetError):
    """The request clashes with the current state (taken username, forbidden transition)."""
