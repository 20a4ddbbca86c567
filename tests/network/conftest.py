"""A real Octet RADIUS server on loopback, a registered NAS, subscriptions and radclient.

The server runs in a background thread with its own asyncio loop; its worker threads open
their own database connections, so tests that use it must see committed data:
``@pytest.mark.django_db(transaction=True)`` (the ``radius_server`` fixture asks for
``transactional_db`` itself, so a test cannot get this wrong silently).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
from datetime import datetime

import pytest

from conftest import require_tool

SECRET = "testing123"
PASSWORD = "s3cret-Pass"


class Running:
    """A started RadiusServer, the loop it runs on and that loop's thread."""

    def __init__(self, server, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.server, self.loop, self.thread = server, loop, thread

    @property
    def auth_port(self) -> int:
        return self.server.auth_port

    @property
    def acct_port(self) -> int:
        return self.server.acct_port

    def reload_nas(self) -> None:
        """Pick up NAS changes now (the server reloads every few seconds by itself)."""
        self.server.registry.load()

    def all_alive(self) -> bool:
        threads = [self.thread, *self.server._threads]
        return len(self.server._threads) == 3 and all(t.is_alive() for t in threads)

    def drain_auth(self, timeout: float = 10) -> None:
        """Return once every Access-Request handed to the pool so far has been handled.

        One barrier task per pool thread: they can only all run at once when no thread is
        still busy with an earlier (FIFO-queued) request.
        """
        pool = self.server._auth_pool
        barrier = threading.Barrier(pool._max_workers, timeout=timeout)
        futures = [pool.submit(barrier.wait) for _ in range(pool._max_workers)]
        for future in futures:
            future.result(timeout=timeout)

    def wait_auth_logged(self, until=None, timeout: float = 10) -> None:
        """Return once the auth-log thread has stored everything queued so far.

        ``until``: a check that the rows a test expects are there, polled up to ``timeout``.
        """
        self.drain_auth()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server._auth_log_queue.empty() and (until is None or until()):
                break
            time.sleep(0.02)
        time.sleep(0.3)  # the worker gathers for 50 ms, then writes one bulk insert


def start_radius() -> Running:
    from octet.network.server import RadiusServer

    server = RadiusServer("127.0.0.1", 0, 0, maintenance_interval=3600)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # surfaced in the test thread below
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="test-radius-loop", daemon=True)
    thread.start()
    if not ready.wait(10) or failure:
        raise RuntimeError(f"the RADIUS server did not start: {failure}")
    return Running(server, loop, thread)


def stop_radius(running: Running) -> None:
    # The pool's threads keep their database connections open (there is no hook when a
    # pool thread ends); close them, or PostgreSQL cannot drop the test database.
    from django.db import connections

    running.drain_auth()
    pool = running.server._auth_pool
    barrier = threading.Barrier(pool._max_workers, timeout=10)

    def close() -> None:
        barrier.wait()  # one task on each pool thread
        connections.close_all()

    for future in [pool.submit(close) for _ in range(pool._max_workers)]:
        future.result(timeout=15)
    running.server.stop()
    running.loop.call_soon_threadsafe(running.loop.stop)
    running.thread.join(timeout=10)
    running.loop.close()


@pytest.fixture
def nas(operator):
    """NAS 127.0.0.1 (MikroTik, secret testing123): radclient's packets come from there."""
    from octet.network.services import create_nas

    return create_nas(
        name="lab-router", address="127.0.0.1", secret=SECRET, vendor="mikrotik", actor="test"
    )


@pytest.fixture
def radius_server(transactional_db, nas):
    """The real server on 127.0.0.1 with ephemeral auth and acct ports."""
    running = start_radius()
    try:
        yield running
    finally:
        stop_radius(running)


# -- subscriptions ----------------------------------------------------------------------


def make_plan(code: str, **terms):
    """A monthly calendar plan at 100/100 Mbit/s; ``terms`` override."""
    from octet.catalog import services
    from octet.catalog.services import tax_category_for

    base = {
        "price": "999.00",
        "interval": "month",
        "alignment": "calendar",
        "down_kbps": 100_000,
        "up_kbps": 100_000,
        "tax_category": tax_category_for("998422", "18"),
    }
    base.update(terms)
    return services.create_plan(code=code, name=code.title(), terms=base, actor="test")


def subscribe(customer, plan, username: str, *, activate: bool = True, **kwargs):
    from octet.subscriptions import services

    return services.subscribe(
        customer,
        plan,
        username=username,
        password=PASSWORD,
        actor="test",
        activate=activate,
        **kwargs,
    )


@pytest.fixture
def active_sub(asha, fiber100):
    """asha on Fiber 100 (100/100 Mbit/s, 500 GB with overage), active, static IP."""
    return subscribe(asha, fiber100, "asha", static_ip="100.64.0.10")


# -- radclient ---------------------------------------------------------------------------


def _value(value) -> str:
    if isinstance(value, bool):
        raise TypeError("a RADIUS attribute value is never a bool")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return str(int(value.timestamp()))
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def attribute_lines(attrs: dict | str) -> str:
    if isinstance(attrs, str):
        return attrs
    return "\n".join(f"{name} = {_value(value)}" for name, value in attrs.items()) + "\n"


def radclient(
    kind: str,
    port: int,
    attrs: dict | str,
    secret: str = SECRET,
    timeout: float = 2,
    retries: int = 1,
) -> tuple[int, str]:
    """Send one packet with FreeRADIUS' radclient; (exit status, its output).

    stderr is folded into the output (radclient prints "No reply from server" there).
    """
    path = shutil.which("radclient")
    require_tool(path is not None, "radclient (freeradius-utils) not installed")
    assert kind in ("auth", "acct")
    result = subprocess.run(
        [path, "-x", "-r", str(retries), "-t", str(timeout), f"127.0.0.1:{port}", kind, secret],
        input=attribute_lines(attrs),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout * (retries + 1) + 20,
    )
    return result.returncode, result.stdout
