"""Sending one CoA-Request or Disconnect-Request (RFC 5176) with pyrad's client."""

from __future__ import annotations

import logging

from django.conf import settings
from pyrad import packet as rp
from pyrad.client import Client, Timeout

from octet.network import vendors

log = logging.getLogger("octet.radius.coa")


def send(request) -> tuple[int | None, str]:
    """Send a CoaRequest once (pyrad retries within); return (reply code or None, detail)."""
    nas = request.nas
    try:
        secret = nas.secret().encode()
    except ValueError:
        return None, "NAS secret cannot be decrypted"
    target = nas.coa_address or str(nas.network.network_address)
    client = Client(
        server=target, secret=secret, dict=vendors.load_dictionary(), coaport=nas.coa_port
    )
    client.timeout = settings.RADIUS_COA_TIMEOUT
    client.retries = 1  # the outbox retries across dispatch runs
    code = rp.DisconnectRequest if request.kind == "disconnect" else rp.CoARequest
    pkt = client.CreateCoAPacket(code=code)
    try:
        for name, value in request.attributes:
            pkt.AddAttribute(name, value)
        reply = client.SendPacket(pkt)
    except Timeout:
        return None, f"no answer from {target}:{nas.coa_port}"
    except OSError as exc:
        return None, f"{target}:{nas.coa_port}: {exc.strerror or exc}"
    except (KeyError, ValueError, TypeError) as exc:
        log.error("CoA request %s has a bad attribute: %s", request.pk, exc)
        return None, "bad attribute"
    detail = ""
    if "Error-Cause" in reply:
        detail = str(reply["Error-Cause"][0])
    return reply.code, detail
