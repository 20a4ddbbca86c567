"""The subscribers' authentication data in memory, kept current by PostgreSQL.

An Access-Request needs one row per subscriber (state, RADIUS password, plan speeds,
prepaid expiry, quota cut). Reading it from the database costs a round trip and several
hand-overs of the interpreter lock, which is most of an Access-Request's time on a small
machine. The RADIUS server therefore loads every live subscriber's row at start and answers
from memory; a miss (a subscriber created since) reads the database and is remembered.

Staying current is the database's job, not the code's: triggers on the tables the decision
reads (migration network 0003) send ``NOTIFY octet_auth`` with the username or subscription
that changed, or ``*`` for a plan or operator change, in the same transaction as the change,
so every writer counts (services, admin, bulk updates, another Octet process, psql). A
listener thread drops those entries as the notifications arrive, a few milliseconds after
the commit. Each server process keeps its own copy, so several RADIUS servers on one
PostgreSQL stay consistent.

A read that raced with a change is not remembered: every notification moves a generation
counter, and a row read from the database is stored only if no notification arrived since
the read began. If the listener loses its connection, or its own heartbeat NOTIFY (every
2 s) does not come back within 6 s, the cache is emptied and disabled until it has listened
again, so the server falls back to the database instead of answering
from data it cannot trust. Only on PostgreSQL (SQLite has no NOTIFY; the embedded default
reads the database for every request).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.db import connections

log = logging.getLogger("octet.network")

CHANNEL = "octet_auth"
HEARTBEAT_SECONDS = 2.0
HEARTBEAT_LOST_SECONDS = 6.0  # three heartbeats missed: the cache is switched off
MISS = object()


class AuthCache:
    def __init__(self) -> None:
        self._rows: dict[str, tuple] = {}
        self._user_of: dict[int, str] = {}  # subscription id -> username
        self._lock = threading.Lock()
        self.generation = 0
        self.enabled = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()  # listening and loaded
        self.stats = {"hits": 0, "misses": 0, "invalidations": 0, "flushes": 0}
        self._ping_payload = f"ping:{id(self)}:{time.monotonic_ns()}"
        self.last_ping_seen = 0.0

    # -- lookups (any thread) -------------------------------------------------------
    def get(self, username: str) -> Any:
        """The cached row of ``username``, or :data:`MISS`."""
        if not self.enabled:
            return MISS
        row = self._rows.get(username, MISS)
        self.stats["hits" if row is not MISS else "misses"] += 1
        return row

    def store(self, username: str, row: tuple, generation: int) -> None:
        """Remember a row read while the generation was ``generation`` (else drop it)."""
        with self._lock:
            if self.enabled and generation == self.generation:
                self._rows[username] = row
                self._user_of[row[0]] = username

    # -- changes --------------------------------------------------------------------
    def invalidate(self, payload: str) -> None:
        if payload.startswith("ping:"):  # our own heartbeat, proof the listener is alive
            if payload == self._ping_payload:
                self.last_ping_seen = time.monotonic()
            return
        with self._lock:
            self.generation += 1
            self.stats["invalidations"] += 1
            if payload.startswith("u:"):
                row = self._rows.pop(payload[2:], None)
                if row is not None:
                    self._user_of.pop(row[0], None)
            elif payload.startswith("s:"):
                try:
                    username = self._user_of.pop(int(payload[2:]), None)
                except ValueError:
                    username = None
                if username is not None:
                    self._rows.pop(username, None)
            else:  # "*" or anything unknown: forget everything, reload lazily
                self._rows.clear()
                self._user_of.clear()
                self.stats["flushes"] += 1

    def _disable(self) -> None:
        with self._lock:
            self.enabled = False
            self.generation += 1
            self._rows.clear()
            self._user_of.clear()
        self.ready.clear()

    # -- the listener thread -----------------------------------------------------------
    def start(self, preload) -> None:
        """Listen for changes, then load every live subscriber (``preload`` yields
        (username, row) pairs), in a thread; the cache serves lookups once both are done."""
        self._thread = threading.Thread(
            target=self._listen, args=(preload,), name="radius-authcache", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _listen(self, preload) -> None:
        import psycopg

        params = dict(connections["default"].get_connection_params())
        # A half-open connection (a partition, a failover) would otherwise look alive for
        # hours while changes go unheard: TCP keepalives, and our own heartbeat below.
        listen_params = {
            **params,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": 15000,
        }
        while not self._stop.is_set():
            try:
                with (
                    psycopg.connect(**listen_params, autocommit=True) as conn,
                    psycopg.connect(**params, autocommit=True) as pinger,
                ):
                    conn.execute(f"LISTEN {CHANNEL}")
                    # Listening before loading: a change during the load moves the
                    # generation, and the load below starts over.
                    while not self._stop.is_set():
                        generation = self.generation
                        rows = dict(preload())
                        with self._lock:
                            if generation != self.generation:
                                continue
                            self._rows = rows
                            self._user_of = {row[0]: name for name, row in rows.items()}
                            self.enabled = True
                        break
                    self.ready.set()
                    log.info("RADIUS auth cache: %d subscribers in memory", len(self._rows))
                    self.last_ping_seen = time.monotonic()
                    next_ping = 0.0
                    while not self._stop.is_set():
                        now = time.monotonic()
                        if now >= next_ping:
                            # Through the server and back: if our own NOTIFY does not come
                            # back, nothing else would either (pgbouncer in transaction
                            # mode, a dead connection): stop trusting the cache.
                            pinger.execute(
                                "SELECT pg_notify(%s, %s)", [CHANNEL, self._ping_payload]
                            )
                            next_ping = now + HEARTBEAT_SECONDS
                        if now - self.last_ping_seen > HEARTBEAT_LOST_SECONDS:
                            raise RuntimeError("the auth cache's heartbeat did not come back")
                        for note in conn.notifies(timeout=1.0):
                            self.invalidate(note.payload)
            except Exception:
                if self._stop.is_set():
                    break
                log.exception("RADIUS auth cache lost its listener; reading the database")
                self._disable()
                time.sleep(1.0)
        self._disable()
