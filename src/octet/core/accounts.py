"""Staff accounts (Django's auth; passwords hashed with Argon2)."""

from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import transaction

from octet.core import audit
from octet.core.errors import Conflict, InvalidInput


@transaction.atomic
def create_admin(username: str, email: str, password: str, *, actor: str):
    User = get_user_model()
    username = (username or "").strip()
    if not username:
        raise InvalidInput("a username is required", field="username")
    if User.objects.filter(username=username).exists():
        raise Conflict(f"user {username!r} already exists", field="username")
    user = User(username=username, email=email, is_staff=True, is_superuser=True)
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise InvalidInput(" ".join(exc.messages), field="password") from exc
    user.set_password(password)
    user.save()
    audit.record(actor=actor, action="staff.created", instance=user, reason="createadmin")
    return user
