"""What an accounting packet says, independent of RADIUS encoding. Pure: no ORM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from octet.metering.counters import Counters


class Status(StrEnum):
    START = "start"
    INTERIM = "interim"
    STOP = "stop"
    ACCOUNTING_ON = "on"
    ACCOUNTING_OFF = "off"


# Acct-Status-Type values (RFC 2866 §5.1)
STATUS_BY_CODE = {
    1: Status.START,
    2: Status.STOP,
    3: Status.INTERIM,
    7: Status.ACCOUNTING_ON,
    8: Status.ACCOUNTING_OFF,
}


@dataclass(frozen=True, slots=True)
class AccountingRecord:
    nas_id: int
    status: Status
    at: datetime  # Event-Timestamp, else receive time less Acct-Delay-Time
    session_id: str = ""
    username: str = ""
    counters: Counters = Counters()
    session_time: int | None = None
    framed_ip: str | None = None
    calling_station_id: str = ""
    nas_port_id: str = ""
    terminate_cause: str = ""
