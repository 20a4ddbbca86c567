"""CSV import of usage, for ISPs whose NAS does not send RADIUS accounting.

Columns (header required): ``username,date,download_bytes,upload_bytes``. Each row adds
usage to the billing period containing ``date`` (local). The whole file is checked first;
one bad row rejects the file with a report of every bad row, and nothing is stored. A file
already imported (same SHA-256) is refused, so a retried upload cannot count twice.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from django.db import IntegrityError, transaction
from django.db.models import F

from octet.core import audit, clock
from octet.core.errors import Conflict, InvalidInput
from octet.core.models import Operator
from octet.metering import services
from octet.metering.models import UsageImport, UsagePeriod
from octet.subscriptions import services as subscriptions
from octet.subscriptions.models import Subscription

COLUMNS = ("username", "date", "download_bytes", "upload_bytes")
MAX_BYTES_PER_ROW = 10**15  # 1 PB in one row is a typo, not usage


@dataclass(frozen=True)
class RowError:
    line: int
    message: str


class RejectedImport(InvalidInput):
    def __init__(self, errors: list[RowError]) -> None:
        shown = "; ".join(f"line {e.line}: {e.message}" for e in errors[:20])
        more = f" (and {len(errors) - 20} more)" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} bad row(s), nothing imported: {shown}{more}")
        self.errors = errors


def _parse(text: str) -> tuple[list[tuple[int, str, date, int, int]], list[RowError]]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or [c.strip() for c in reader.fieldnames] != list(COLUMNS):
        raise InvalidInput(f"the header must be exactly: {','.join(COLUMNS)}")
    rows, errors = [], []
    for line, raw in enumerate(reader, start=2):
        try:
            if None in raw or any(v is None for v in raw.values()):
                raise ValueError("wrong number of columns")
            username = raw["username"].strip()
            if not username:
                raise ValueError("username is empty")
            day = date.fromisoformat(raw["date"].strip())
            down, up = int(raw["download_bytes"]), int(raw["upload_bytes"])
            if not (0 <= down <= MAX_BYTES_PER_ROW and 0 <= up <= MAX_BYTES_PER_ROW):
                raise ValueError("byte counts must be between 0 and 10^15")
        except ValueError as exc:
            errors.append(RowError(line, str(exc)))
            continue
        rows.append((line, username, day, down, up))
    return rows, errors


def import_usage_csv(text: str, *, filename: str, actor: str) -> UsageImport:
    digest = hashlib.sha256(text.encode()).hexdigest()
    rows, errors = _parse(text)
    subs = {
        s.username: s
        for s in Subscription.objects.filter(username__in={r[1] for r in rows})
        .exclude(state="terminated")
        .select_related("plan_version")
    }
    for line, username, _day, _d, _u in rows:
        if username not in subs:
            errors.append(RowError(line, f"no live subscription with username {username!r}"))
    if errors:
        raise RejectedImport(sorted(errors, key=lambda e: e.line))
    if not rows:
        raise InvalidInput("the file has no rows")
    now = clock.now()
    tz = ZoneInfo(Operator.current().time_zone)
    try:
        with transaction.atomic():
            batch = UsageImport.objects.create(
                at=now,
                actor=actor,
                filename=filename[:200],
                sha256=digest,
                rows=len(rows),
                download_bytes=sum(r[3] for r in rows),
                upload_bytes=sum(r[4] for r in rows),
            )
            touched: dict[int, UsagePeriod] = {}
            for _line, username, day, down, up in rows:
                sub = subs[username]
                period = subscriptions.period_at(sub, day)
                row = services.ensure_usage_period(sub.pk, period, now)
                UsagePeriod.objects.filter(pk=row.pk).update(
                    download_bytes=F("download_bytes") + down,
                    upload_bytes=F("upload_bytes") + up,
                    updated_at=now,
                )
                touched[row.pk] = row
            fresh = list(UsagePeriod.objects.filter(pk__in=touched))
            services.check_quotas(fresh, now, tz)
            audit.record(actor=actor, action="usage.imported", instance=batch, reason=filename)
    except IntegrityError as exc:
        if UsageImport.objects.filter(sha256=digest).exists():
            raise Conflict(f"{filename}: this file was already imported") from exc
        raise
    return batch
