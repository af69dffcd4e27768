"""Fault-test helpers: a private redis-server on a free port (never the machine's shared one), Celery
workers the test starts, kills with SIGKILL and replaces, and the test process's Celery app pointed
at the private broker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings

from config.celery import app
from config.embedded import url_for
from tests.conftest import WORKER_COMMAND, World, wait_for

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A redis-server of the test's own, stopped and started again on the same port."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert wait_for(self._answers, timeout=20), "the private redis-server did not start"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None
        assert not self._answers()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def broker_at(url: str) -> Iterator[None]:
    """This process's Celery app publishes to `url` (the app keeps its connection pools: reset)."""
    saved = (app.conf.broker_url, app.conf.broker_transport_options)

    def reset() -> None:
        # Celery has no public way to drop its pools; kombu's registry keeps them per broker URL
        # (closing one would break the next use of that URL), so only the app's references go.
        app._pool = None
        app.amqp._producer_pool = None

    # Celery's `conf.broker_url` reads the CELERY_BROKER_URL environment variable before the setting
    # (.ci/run exports it for the shared Redis), so both change.
    saved_environ = os.environ.get("CELERY_BROKER_URL")
    reset()
    app.conf.broker_url = url
    app.conf.broker_transport_options = {}
    os.environ["CELERY_BROKER_URL"] = url
    try:
        yield
    finally:
        reset()
        app.conf.broker_url, app.conf.broker_transport_options = saved
        if saved_environ is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_environ


class Worker:
    """`celery worker` on every queue, in a process group of its own so SIGKILL reaches the main
    process and its pool child at once (what the kernel's OOM killer or a lost VM does)."""

    def __init__(self, broker_url: str, log: Path, extra_env: dict[str, str] | None = None) -> None:
        self.log = log
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.reliability.worker_settings",
            "DATABASE_URL": url_for(settings.DATABASES["default"]),
            "CANDOR_DATA_DIR": str(settings.DATA_DIR),
            "CELERY_BROKER_URL": broker_url,
            **(extra_env or {}),
        }
        with log.open("a") as out:
            self.process = subprocess.Popen(
                [
                    *WORKER_COMMAND,
                    "--without-mingle",
                    "--hostname",
                    f"fault-{os.getpid()}-{time.monotonic_ns()}@%h",
                ],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        assert wait_for(lambda: " ready." in self.text() or self.process.poll() is not None, timeout=120)
        assert self.process.poll() is None, self.text()[-3000:]

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=20)

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)


@pytest.fixture
def workers(committed: World, tmp_path: Path) -> Iterator[list[Worker]]:
    """Workers a test starts (append to the list); whatever is still running is stopped after."""
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()
