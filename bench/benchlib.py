"""What every benchmark here needs: printing figures, the machine, a scratch database.

Imported by the scripts beside it (``python bench/NAME.py`` puts this folder on sys.path).
"""

from __future__ import annotations

import os
import platform
import sqlite3
from pathlib import Path

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def out(line: str) -> None:
    print(line, flush=True)


def machine() -> dict[str, str]:
    """Cores, CPU model, memory and versions, printed beside every figure."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except (OSError, StopIteration):
        mem_kb = 0
    import django

    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "mem_gib": f"{mem_kb / 1024 / 1024:.1f}",
        "python": platform.python_version(),
        "django": django.get_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
    }


class ScratchDatabase:
    """A database a benchmark may drop and re-create: a SQLite file in ``workdir``, or a
    PostgreSQL database ``name`` guarded by an advisory lock held until the process exits
    (a second run would otherwise drop the database under the first)."""

    def __init__(self, kind: str, name: str) -> None:
        self.kind, self.name = kind, name
        self._admin = None

    def admin(self):
        import psycopg

        if self._admin is None:
            conn = psycopg.connect(PG_ADMIN_URL, autocommit=True)
            self._admin = conn
            locked = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [self.name])
            if not locked.fetchone()[0]:
                raise SystemExit(f"another benchmark is using the database {self.name}; try later")
        return self._admin

    def fresh(self, workdir: Path) -> str:
        """Drop and create it; returns its DATABASE_URL."""
        if self.kind == "sqlite":
            path = workdir / "bench.sqlite3"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            return f"sqlite:///{path}"
        conn = self.admin()
        conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{self.name}"')
        return f"postgres://postgres@127.0.0.1:5432/{self.name}"

    def drop(self) -> None:
        if self.kind == "postgres" and self._admin is not None:
            self._admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def server_version(self) -> str:
        return self.admin().execute("SHOW server_version").fetchone()[0]
