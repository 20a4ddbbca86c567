"""Two RADIUS servers storing packets of one session at once never count a byte twice."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from octet.core import clock
from octet.metering.accounting import AccountingRecord, Status
from octet.metering.counters import Counters
from octet.metering.models import UsagePeriod
from octet.metering.services import record_accounting
from octet.network import services as network
from octet.network.models import RadiusSession
from octet.subscriptions import services as subscriptions

pytestmark = pytest.mark.django_db(transaction=True)

SUBSCRIBED_AT = datetime(2026, 1, 15, 9, 0, tzinfo=ZoneInfo("Asia/Kolkata"))


@pytest.fixture
def nas(operator):
    return network.create_nas(
        name="core-1", address="10.0.0.1", secret="testing123", vendor="mikrotik", actor="test"
    )


@pytest.fixture
def sub(asha, fiber100):
    with clock.frozen_at(SUBSCRIBED_AT):
        return subscriptions.subscribe(
            asha, fiber100, username="asha", password="s3cret-Pass", actor="test"
        )


def rec(nas, status, at, down=0, up=0):
    return AccountingRecord(
        nas_id=nas.pk,
        status=status,
        at=at,
        session_id="s-1",
        username="asha",
        counters=Counters(download=down, upload=up),
    )


@pytest.mark.parametrize("round_", range(3))
def test_the_same_interim_stored_by_two_servers_at_once_counts_once(nas, sub, round_):
    start = SUBSCRIBED_AT + timedelta(hours=1)
    record_accounting([rec(nas, Status.START, start)])
    interim = rec(nas, Status.INTERIM, start + timedelta(minutes=5), down=7_000, up=300)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def server() -> None:
        try:
            barrier.wait()
            record_accounting([interim])
        except BaseException as exc:  # a database error here would be a finding
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=server) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    session = RadiusSession.objects.get()
    assert (session.download_bytes, session.upload_bytes) == (7_000, 300)
    row = UsagePeriod.objects.get(subscription=sub)
    assert (row.download_bytes, row.upload_bytes) == (7_000, 300)
