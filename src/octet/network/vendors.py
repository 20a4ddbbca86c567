"""Rendering a plan's speed into RADIUS reply attributes, per NAS vendor.

Pure functions, no ORM: the caller turns a plan (or a fair-usage throttle) into
a :class:`Speed` and puts the ``(attribute, value)`` pairs into an Access-Accept
or CoA-Request built with :func:`load_dictionary`.

Speeds are in kbit/s (1 kbit = 1000 bit, as routers count). A speed of 0 means
"no limit" in that direction, which is what MikroTik's rate-limit means by 0;
for the other vendors the attribute for that direction is left out.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum
from functools import cache
from pathlib import Path

from pyrad.dictionary import Dictionary

DICTIONARY_DIR = Path(__file__).resolve().parent / "dictionary"

# RADIUS "integer" is 32 bits unsigned.
_MAX_INTEGER = 2**32 - 1


class Vendor(StrEnum):
    MIKROTIK = "mikrotik"
    CISCO = "cisco"
    JUNIPER = "juniper"
    GENERIC = "generic"


@dataclass(frozen=True)
class Speed:
    """Subscriber speed in kbit/s; down = to the subscriber, up = from them.

    The burst fields are MikroTik's burst: the subscriber may use the burst rate
    while their average rate over ``burst_time_s`` stays below the threshold.
    They only take effect when all five are set.
    """

    down_kbps: int
    up_kbps: int
    burst_down_kbps: int | None = None
    burst_up_kbps: int | None = None
    burst_threshold_down_kbps: int | None = None
    burst_threshold_up_kbps: int | None = None
    burst_time_s: int | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            # bool is an int subclass; True kbps is always a mistake.
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{field.name} must be an int, not {value!r}")
            if value < 0:
                raise ValueError(f"{field.name} must not be negative")
        if self.burst_time_s == 0:
            raise ValueError("burst_time_s must be positive")

    @property
    def has_burst(self) -> bool:
        return None not in (
            self.burst_down_kbps,
            self.burst_up_kbps,
            self.burst_threshold_down_kbps,
            self.burst_threshold_up_kbps,
            self.burst_time_s,
        )


def _mikrotik_rate(kbps: int) -> str:
    # RouterOS rate values take only the k (1000) and M (1000000) suffixes, so
    # 1 Gbit/s is "1000M"; 0 is "unlimited".
    if kbps and kbps % 1000 == 0:
        return f"{kbps // 1000}M"
    if kbps:
        return f"{kbps}k"
    return "0"


def mikrotik_rate_limit(speed: Speed) -> str:
    """The Mikrotik-Rate-Limit value for ``speed``.

    RouterOS reads ``rx/tx [burst-rx/burst-tx [threshold-rx/threshold-tx
    [time-rx/time-tx]]]`` from the router's side: rx is what the subscriber
    uploads, tx what it downloads. So upload comes first.
    """
    parts = [f"{_mikrotik_rate(speed.up_kbps)}/{_mikrotik_rate(speed.down_kbps)}"]
    if speed.has_burst:
        # has_burst guarantees these are ints; the asserts narrow for type checkers.
        assert speed.burst_up_kbps is not None and speed.burst_down_kbps is not None
        assert speed.burst_threshold_up_kbps is not None
        assert speed.burst_threshold_down_kbps is not None
        parts.append(
            f"{_mikrotik_rate(speed.burst_up_kbps)}/{_mikrotik_rate(speed.burst_down_kbps)}"
        )
        parts.append(
            f"{_mikrotik_rate(speed.burst_threshold_up_kbps)}"
            f"/{_mikrotik_rate(speed.burst_threshold_down_kbps)}"
        )
        parts.append(f"{speed.burst_time_s}/{speed.burst_time_s}")
    return " ".join(parts)


def _cisco_rate_limit(direction: str, kbps: int) -> str:
    bps = kbps * 1000
    # Cisco's recommended CAR bursts: normal = 1.5 s of traffic in bytes,
    # extended = twice that.
    normal_burst = round(bps / 8 * 1.5)
    excess_burst = 2 * normal_burst
    return (
        f"rate-limit {direction} {bps} {normal_burst} {excess_burst} "
        "conform-action transmit exceed-action drop"
    )


def _cisco_attributes(speed: Speed) -> list[tuple[str, str | int]]:
    # Interface rate-limit (CAR) on the subscriber's virtual-access interface
    # instead of "ip:sub-qos-policy-in/out=<policy>": a policy name only works
    # if that policy-map was configured on every BNG beforehand, while
    # rate-limit carries the speed itself. "input" is traffic from the
    # subscriber (upload). Each line needs its own #n or IOS keeps only one.
    lines = []
    if speed.up_kbps:
        lines.append(_cisco_rate_limit("input", speed.up_kbps))
    if speed.down_kbps:
        lines.append(_cisco_rate_limit("output", speed.down_kbps))
    return [
        ("Cisco-AVPair", f"lcp:interface-config#{index}={line}")
        for index, line in enumerate(lines, start=1)
    ]


def _wispr_attributes(speed: Speed) -> list[tuple[str, str | int]]:
    # WISPr wants bit/s in a 32-bit integer; above ~4.29 Gbit/s the largest
    # value is the closest the attribute can say.
    attributes: list[tuple[str, str | int]] = []
    if speed.down_kbps:
        attributes.append(("WISPr-Bandwidth-Max-Down", min(speed.down_kbps * 1000, _MAX_INTEGER)))
    if speed.up_kbps:
        attributes.append(("WISPr-Bandwidth-Max-Up", min(speed.up_kbps * 1000, _MAX_INTEGER)))
    return attributes


def speed_attributes(vendor: Vendor | str, speed: Speed) -> list[tuple[str, str | int]]:
    """Reply attributes that limit a session to ``speed`` on a ``vendor`` NAS.

    MikroTik gets Mikrotik-Rate-Limit (with burst), Cisco gets Cisco-AVPair
    rate-limits, Juniper and generic NAS get WISPr bandwidth attributes (Juniper's
    own ERX policy attributes would need policies pre-made on the router).
    Burst is MikroTik-only. Raises ValueError for an unknown vendor.
    """
    vendor = Vendor(vendor)
    if vendor is Vendor.MIKROTIK:
        return [("Mikrotik-Rate-Limit", mikrotik_rate_limit(speed))]
    if vendor is Vendor.CISCO:
        return _cisco_attributes(speed)
    return _wispr_attributes(speed)


def throttled(speed: Speed, down_kbps: int, up_kbps: int | None) -> Speed:
    """The fair-usage speed: ``down_kbps``/``up_kbps`` without burst.

    ``up_kbps=None`` keeps the plan's upload speed. A throttle never makes a
    direction faster than the plan already allows (a plan direction of 0 is
    unlimited, so there the throttle applies as given).
    """
    if down_kbps <= 0 or (up_kbps is not None and up_kbps <= 0):
        raise ValueError("a throttle speed must be positive")

    def cap(plan_kbps: int, throttle_kbps: int) -> int:
        return min(plan_kbps, throttle_kbps) if plan_kbps else throttle_kbps

    return replace(
        speed,
        down_kbps=cap(speed.down_kbps, down_kbps),
        up_kbps=speed.up_kbps if up_kbps is None else cap(speed.up_kbps, up_kbps),
        burst_down_kbps=None,
        burst_up_kbps=None,
        burst_threshold_down_kbps=None,
        burst_threshold_up_kbps=None,
        burst_time_s=None,
    )


@cache
def load_dictionary() -> Dictionary:
    """Octet's RADIUS dictionary (RFC attributes plus the vendors above).

    Cached and shared: treat it as read-only. Read from the file system because
    pyrad resolves the $INCLUDEs relative to the main file's directory.
    """
    return Dictionary(str(DICTIONARY_DIR / "dictionary"))
