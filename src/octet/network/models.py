from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError
from django.db import models

from octet.core import secrets
from octet.subscriptions.models import Subscription


class NasVendor(models.TextChoices):
    MIKROTIK = "mikrotik", "MikroTik"
    CISCO = "cisco", "Cisco"
    JUNIPER = "juniper", "Juniper"
    GENERIC = "generic", "Generic RFC 2865/2866 NAS"


class Nas(models.Model):
    """A router allowed to ask Octet (FreeRADIUS' clients.conf / nas table)."""

    name = models.CharField(max_length=100, unique=True)
    address = models.CharField(
        max_length=64, help_text="IP address or subnet (CIDR) packets come from"
    )
    secret_encrypted = models.TextField(editable=False)
    vendor = models.CharField(max_length=10, choices=NasVendor.choices, default=NasVendor.GENERIC)
    coa_address = models.GenericIPAddressField(
        null=True, blank=True, help_text="Where CoA/Disconnect go (default: the NAS address)"
    )
    coa_port = models.PositiveIntegerField(default=3799)
    require_message_authenticator = models.BooleanField(
        default=False, help_text="Drop Access-Requests without Message-Authenticator"
    )
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "NAS"
        verbose_name_plural = "NAS"

    def __str__(self) -> str:
        return f"{self.name} ({self.address})"

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.address, strict=False)

    def set_secret(self, raw: str) -> None:
        self.secret_encrypted = secrets.encrypt(raw)

    def secret(self) -> str:
        return secrets.decrypt(self.secret_encrypted)

    def clean(self) -> None:
        try:
            self.address = str(ipaddress.ip_network(self.address.strip(), strict=False))
        except ValueError as exc:
            raise ValidationError(
                {"address": f"{self.address!r} is not an IP address or subnet"}
            ) from exc
        if not (1 <= self.coa_port <= 65535):
            raise ValidationError({"coa_port": "a UDP port is 1-65535"})


class RadiusSession(models.Model):
    """One accounting session (FreeRADIUS' radacct), with the last counters seen."""

    nas = models.ForeignKey(Nas, on_delete=models.PROTECT, related_name="sessions")
    acct_session_id = models.CharField(max_length=64)
    username = models.CharField(max_length=64, db_index=True)
    subscription = models.ForeignKey(
        Subscription, null=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField(help_text="time of the last counters")
    stopped_at = models.DateTimeField(null=True, blank=True)
    # Cumulative 64-bit counters of the last packet (download = Acct-Output-*).
    download_bytes = models.BigIntegerField(default=0)
    upload_bytes = models.BigIntegerField(default=0)
    framed_ip = models.GenericIPAddressField(null=True, blank=True)
    calling_station_id = models.CharField(max_length=64, blank=True)
    nas_port_id = models.CharField(max_length=64, blank=True)
    terminate_cause = models.CharField(max_length=32, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["nas", "acct_session_id"],
                condition=models.Q(stopped_at__isnull=True),
                name="radius_session_open_unique",
            )
        ]
        indexes = [
            models.Index(fields=["acct_session_id"]),
            models.Index(fields=["subscription", "started_at"]),
            models.Index(fields=["stopped_at", "updated_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.username}@{self.nas_id} {self.acct_session_id}"

    @property
    def is_open(self) -> bool:
        return self.stopped_at is None


class AuthResult(models.TextChoices):
    ACCEPT = "accept"
    REJECT = "reject"


class AuthLog(models.Model):
    """Every Access-Request answered (FreeRADIUS' radpostauth). Never holds a password."""

    at = models.DateTimeField(db_index=True)
    username = models.CharField(max_length=64, db_index=True)
    nas = models.ForeignKey(Nas, null=True, on_delete=models.SET_NULL)
    result = models.CharField(max_length=8, choices=AuthResult.choices)
    reason = models.CharField(max_length=100)
    calling_station_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.result} ({self.reason})"


class CoaKind(models.TextChoices):
    COA = "coa", "CoA-Request (change speed)"
    DISCONNECT = "disconnect", "Disconnect-Request"


class CoaStatus(models.TextChoices):
    PENDING = "pending"
    ACKED = "acked"
    NAKED = "naked"
    FAILED = "failed"


class CoaRequest(models.Model):
    """An RFC 5176 request to a NAS, kept as an outbox with its answers."""

    nas = models.ForeignKey(Nas, on_delete=models.CASCADE)
    session = models.ForeignKey(RadiusSession, null=True, on_delete=models.SET_NULL)
    subscription = models.ForeignKey(Subscription, null=True, on_delete=models.SET_NULL)
    kind = models.CharField(max_length=10, choices=CoaKind.choices)
    reason = models.CharField(max_length=40)
    attributes = models.JSONField(default=list)
    status = models.CharField(max_length=8, choices=CoaStatus.choices, default=CoaStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(db_index=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    response = models.CharField(
        max_length=100, blank=True, help_text="ACK/NAK code and Error-Cause"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.reason} to {self.nas_id} ({self.status})"
