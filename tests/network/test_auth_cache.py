"""The RADIUS auth cache: Access-Requests answered from memory on PostgreSQL, and every
change that matters reaching each server through NOTIFY."""

from __future__ import annotations

import time

import pytest
from django.db import connection

from octet.network.authcache import MISS, AuthCache
from octet.subscriptions import services as subscriptions

from .conftest import PASSWORD, radclient, start_radius, stop_radius, subscribe


def pap(username: str = "asha", password: str = PASSWORD) -> dict:
    return {"User-Name": username, "User-Password": password}


def answer(server, attrs: dict) -> str:
    _, output = radclient("auth", server.auth_port, attrs)
    return output


def eventually(check, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise AssertionError("not within the time allowed")
        time.sleep(0.05)


# -- the cache on its own (no database) -----------------------------------------------


def test_a_row_read_while_something_changed_is_not_remembered():
    cache = AuthCache()
    cache.enabled = True
    before = cache.generation
    cache.invalidate("u:somebody")  # a change committed during the read
    cache.store("asha", (7, "active"), before)
    assert cache.get("asha") is MISS
    cache.store("asha", (7, "active"), cache.generation)
    assert cache.get("asha") == (7, "active")


def test_notifications_drop_a_user_a_subscription_or_everything():
    cache = AuthCache()
    cache.enabled = True
    for name, sub_id in (("asha", 1), ("ravi", 2), ("meera", 3)):
        cache.store(name, (sub_id, "active"), cache.generation)
    cache.invalidate("u:asha")
    assert cache.get("asha") is MISS and cache.get("ravi") != MISS
    cache.invalidate("s:2")
    assert cache.get("ravi") is MISS and cache.get("meera") != MISS
    cache.invalidate("s:not-a-number")  # ignored, never a crash
    cache.invalidate("*")
    assert cache.get("meera") is MISS


def test_a_disabled_cache_always_misses():
    cache = AuthCache()
    cache.store("asha", (1, "active"), cache.generation)
    assert cache.get("asha") is MISS


# -- the real server on PostgreSQL ------------------------------------------------------


@pytest.fixture
def pg_server(transactional_db, nas, active_sub):
    if connection.vendor != "postgresql":
        pytest.skip("the auth cache needs PostgreSQL's LISTEN/NOTIFY (SQLite reads each time)")
    running = start_radius()
    try:
        assert running.server.auth_cache is not None
        assert running.server.auth_cache.ready.wait(10)
        yield running
    finally:
        stop_radius(running)


def test_subscribers_are_loaded_and_answered_from_memory(pg_server, active_sub):
    cache = pg_server.server.auth_cache
    assert cache.get("asha") is not MISS  # loaded at start
    hits = cache.stats["hits"]
    assert "Received Access-Accept" in answer(pg_server, pap())
    assert cache.stats["hits"] > hits
    assert "Wrong password" in answer(pg_server, pap(password="Wrong-Pass99"))


def test_a_suspension_reaches_the_server_at_once(pg_server, active_sub):
    assert "Access-Accept" in answer(pg_server, pap())
    subscriptions.suspend(active_sub, reason="non_payment", actor="dunning")
    eventually(lambda: pg_server.server.auth_cache.get("asha") is MISS)
    assert "Service suspended" in answer(pg_server, pap())
    subscriptions.reconnect(active_sub, actor="clerk", reason="paid")
    eventually(lambda: "Access-Accept" in answer(pg_server, pap()))


def test_a_change_made_outside_octet_is_seen_too(pg_server, active_sub):
    with connection.cursor() as cursor:  # psql, a script, a bulk update: same trigger
        cursor.execute(
            "UPDATE subscriptions_subscription SET state = 'suspended', suspend_reason = 'staff' "
            "WHERE username = 'asha'"
        )
    eventually(lambda: "Service suspended" in answer(pg_server, pap()))


def test_a_new_password_and_a_new_subscriber(pg_server, active_sub, fiber100):
    subscriptions.set_radius_password(active_sub, "N3w-Passw0rd", actor="support")
    eventually(lambda: "Access-Accept" in answer(pg_server, pap(password="N3w-Passw0rd")))
    assert "Wrong password" in answer(pg_server, pap())
    from octet.customers.services import create_customer

    ravi = create_customer({"name": "Ravi", "email": "r@example.in", "state_code": "29"}, actor="t")
    subscribe(ravi, fiber100, "ravi")
    assert "Access-Accept" in answer(pg_server, pap("ravi"))  # a miss, read and remembered
    assert pg_server.server.auth_cache.get("ravi") is not MISS


def test_billing_updates_do_not_empty_the_cache(pg_server, active_sub):
    cache = pg_server.server.auth_cache
    before = cache.stats["invalidations"]
    from octet.subscriptions.models import Subscription

    Subscription.objects.filter(pk=active_sub.pk).update(next_bill_at=None)
    time.sleep(0.3)
    assert cache.stats["invalidations"] == before
    assert cache.get("asha") is not MISS


def test_losing_the_listener_falls_back_to_the_database(pg_server, active_sub):
    cache = pg_server.server.auth_cache
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN octet_auth%%' AND pid <> pg_backend_pid()"
        )
    eventually(lambda: not cache.enabled or cache.stats["invalidations"] >= 0)
    # Whatever the moment, every answer is right: from the database while disabled.
    subscriptions.suspend(active_sub, reason="staff", actor="noc")
    eventually(lambda: "Service suspended" in answer(pg_server, pap()))
    eventually(lambda: cache.ready.is_set() and cache.enabled, timeout=10)
    assert "Service suspended" in answer(pg_server, pap())
