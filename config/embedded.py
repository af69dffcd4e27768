"""Embedded PostgreSQL 16 + pgvector for `make run` and tests when DATABASE_URL is unset.

pgserver ships the server binaries in its wheel, so a fresh machine with only Python needs no
service installed. The server keeps running between processes (web, worker, beat, manage.py all
call `database_url()`; pgserver attaches to a running server on the same data folder) and is
stopped by `stop()` when `make run` ends.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

# pgserver's platformdirs call warns when XDG_RUNTIME_DIR is unset (containers, CI): give it a
# private runtime folder as a login session would.
if not os.environ.get("XDG_RUNTIME_DIR"):
    _runtime = Path(tempfile.gettempdir()) / f"candor-runtime-{os.getuid()}"
    _runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ["XDG_RUNTIME_DIR"] = str(_runtime)
import pgserver

# The bundled pg_ctl, run as pgserver's system user (the module defines its commands dynamically).
from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

# pgserver logs every attach and detach at INFO: one line per manage.py call is noise.
logging.getLogger("pgserver").setLevel(logging.WARNING)


def _data_dir(base: Path) -> Path:
    path = base / "pg"
    path.mkdir(parents=True, exist_ok=True)
    return path


DATABASE = "candor"


def database_url(base: Path) -> str:
    """The URL of the `candor` database on the embedded server, starting it if needed."""
    data = _data_dir(base)
    server = pgserver.get_server(data, cleanup_mode=None)
    marker = data / ".candor-database"
    if not marker.exists():
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}';")  # noqa: S608 - a constant
        if "(1 row)" not in exists:
            server.psql(f"CREATE DATABASE {DATABASE};")
        marker.touch()
    return str(server.get_uri(DATABASE))


def stop(base: Path) -> None:
    """Stop the embedded server, whichever process started it. pgserver stops a server only when
    the last process that registered a handle cleans up, and a process that died without cleaning
    up leaves its registration behind; so ask pg_ctl directly (a fast shutdown)."""
    data = _data_dir(base)
    if not (data / "postmaster.pid").exists():
        return
    server = pgserver.get_server(data, cleanup_mode=None)
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=data, user=server.system_user)


def url_for(db: dict[str, Any]) -> str:
    """A DATABASE_URL for other processes (web, worker) naming the same database over its socket."""
    host = db.get("HOST") or db.get("OPTIONS", {}).get("host", "")
    return f"postgresql://{db['USER']}:{db.get('PASSWORD') or ''}@/{db['NAME']}?host={host}"
