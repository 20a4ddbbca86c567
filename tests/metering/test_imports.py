"""CSV usage import: all rows or none, never twice."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from octet.core import clock
from octet.core.errors import Conflict, InvalidInput
from octet.core.models import AuditEntry
from octet.metering.imports import RejectedImport, import_usage_csv
from octet.metering.models import QuotaEvent, UsageImport, UsagePeriod
from octet.notifications.models import Notification
from octet.subscriptions.services import subscribe

IST = ZoneInfo("Asia/Kolkata")


@pytest.fixture
def asha_sub(asha, fiber100):
    with clock.frozen_at(datetime(2026, 1, 15, 9, 0, tzinfo=IST)):
        return subscribe(asha, fiber100, username="asha", password="s3cret-Pass", actor="test")


def test_rows_add_to_the_period_of_their_date(asha_sub):
    text = (
        "username,date,download_bytes,upload_bytes\n"
        "asha,2026-01-20,100000000000,5000000000\n"
        "asha,2026-01-31,200000000000,15000000000\n"
        "asha,2026-02-01,7,3\n"
    )
    with clock.frozen_at(datetime(2026, 2, 2, 10, 0, tzinfo=IST)):
        batch = import_usage_csv(text, filename="jan.csv", actor="clerk")
    assert batch.rows == 3
    jan = UsagePeriod.objects.get(subscription=asha_sub, period_start="2026-01-01")
    feb = UsagePeriod.objects.get(subscription=asha_sub, period_start="2026-02-01")
    assert (jan.download_bytes, jan.upload_bytes) == (300_000_000_000, 20_000_000_000)
    assert jan.allowance_bytes == 274_193_548_387  # 500 GB x 17/31, rounded down
    assert (feb.download_bytes, feb.upload_bytes) == (7, 3)
    # 300 GB of a 274 GB allowance: both thresholds, once.
    kinds = sorted(
        QuotaEvent.objects.filter(period_start="2026-01-01").values_list("kind", flat=True)
    )
    assert kinds == ["usage_100", "usage_80"]
    assert Notification.objects.filter(kind="usage_100").count() == 1
    assert AuditEntry.objects.filter(action="usage.imported", actor="clerk").count() == 1


def test_one_bad_row_rejects_the_file_and_stores_nothing(asha_sub):
    text = (
        "username,date,download_bytes,upload_bytes\n"
        "asha,2026-01-20,100,5\n"
        "nobody,2026-01-20,100,5\n"
        "asha,2026-13-01,100,5\n"
        "asha,2026-01-21,-4,5\n"
        "asha,2026-01-21,12\n"
    )
    with pytest.raises(RejectedImport) as err:
        import_usage_csv(text, filename="bad.csv", actor="clerk")
    assert [e.line for e in err.value.errors] == [3, 4, 5, 6]
    assert "nobody" in str(err.value) and "line 4" in str(err.value)
    assert not UsagePeriod.objects.exists()
    assert not UsageImport.objects.exists()


def test_the_same_file_twice_is_refused(asha_sub):
    text = "username,date,download_bytes,upload_bytes\nasha,2026-01-20,100,5\n"
    import_usage_csv(text, filename="a.csv", actor="clerk")
    with pytest.raises(Conflict, match="already imported"):
        import_usage_csv(text, filename="a-again.csv", actor="clerk")
    assert UsagePeriod.objects.get().download_bytes == 100


@pytest.mark.parametrize(
    "text",
    ["user,date,down,up\nasha,2026-01-20,1,1\n", "", "username,date,download_bytes,upload_bytes\n"],
)
def test_wrong_header_or_empty_file(asha_sub, text):
    with pytest.raises(InvalidInput):
        import_usage_csv(text, filename="x.csv", actor="clerk")
    assert not UsageImport.objects.exists()
