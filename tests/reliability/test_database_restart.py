"""PostgreSQL restarts under a running web server: while it is down, API requests get a JSON 503
in the API's one error shape and portal pages a plain 503 page (never a stack trace, never a
hang); once it is back, the same gunicorn worker serves normally again (CONN_HEALTH_CHECKS).

The server that restarts is a separate embedded cluster started for this test (a copy of the test
database is restored into it), so the suite's own server is never stopped."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pgserver
import psutil
import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from pgserver._commands import pg_ctl

from tenants.backup import _connection_args, pg_program
from tenants.models import ApiToken
from tenants.services import token_create
from tests.conftest import World, wait_for
from tests.reliability.conftest import REPO, free_port

pytestmark = pytest.mark.worker


@dataclass
class Cluster:
    server: Any

    def url(self, database: str) -> str:
        return str(self.server.get_uri(database))

    def stop(self) -> None:
        pg_ctl(["-w", "stop", "-m", "fast"], pgdata=self.server.pgdata, user=self.server.system_user)

    def start(self) -> None:
        self.server.ensure_postgres_running()


@pytest.fixture
def cluster(committed: World, tmp_path: Path) -> Iterator[Cluster]:
    """A second embedded PostgreSQL 16 holding a copy of the test database (`candor`)."""
    server = pgserver.get_server(tmp_path / "pg", cleanup_mode=None)
    copy = Cluster(server)
    dump = tmp_path / "suite.dump"
    args, env = _connection_args()
    pg_dump, _ = pg_program("pg_dump", at_least=16)
    pg_restore, _ = pg_program("pg_restore", at_least=16)
    subprocess.run([pg_dump, *args, "--format=custom", "--file", str(dump)], env=env, check=True)
    server.psql("CREATE DATABASE candor;")
    subprocess.run(
        [pg_restore, "--no-owner", "--exit-on-error", "--dbname", copy.url("candor"), str(dump)], check=True
    )
    try:
        yield copy
    finally:
        if (server.pgdata / "postmaster.pid").exists():
            copy.stop()


@dataclass
class Web:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def get(
        self, host: str, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        return self.call("GET", host, path, headers)

    def call(
        self,
        method: str,
        host: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)  # a hang fails the test
        try:
            conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()

    def worker_pids(self) -> list[int]:
        return sorted(child.pid for child in psutil.Process(self.process.pid).children())


@pytest.fixture
def web(cluster: Cluster, tmp_path: Path) -> Iterator[Web]:
    """gunicorn (one worker, four threads) on the separate cluster."""
    port = free_port()
    log = tmp_path / "gunicorn.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": cluster.url("candor"),
        "CANDOR_DATA_DIR": str(settings.DATA_DIR),
    }
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    command = [
        gunicorn,
        "config.wsgi",
        "--workers",
        "1",
        "--threads",
        "4",
        "--bind",
        f"127.0.0.1:{port}",
        "--no-control-socket",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Web(process, port, log)

    def answers() -> bool:
        try:
            return server.get("localhost", "/static/img/candor.svg")[0] == 200
        except OSError:
            return False

    try:
        assert wait_for(answers, timeout=120), log.read_text()[-3000:]
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def credentials(committed: World) -> Iterator[tuple[str, str]]:
    """A bearer token and a signed-in portal session of A's owner, made before the copy is taken."""
    user = committed.users["a_owner"]
    token, raw = token_create(user=user, name="restart", scope="write", tenants=[committed.a])
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    yield raw, session.session_key
    session.delete()
    ApiToken.objects.filter(pk=token.pk).delete()


@pytest.fixture
def setup(credentials: tuple[str, str], web: Web, cluster: Cluster) -> tuple[Web, Cluster, str, str]:
    # The copy is taken when `cluster` starts, after `credentials` made the token and session.
    return web, cluster, *credentials


HOST = "tenant-a.localhost"


def test_requests_fail_cleanly_while_postgresql_is_down_and_the_same_worker_recovers(setup):
    web, cluster, token, session = setup
    api = {"Authorization": f"Bearer {token}"}
    portal = {"Cookie": f"sessionid={session}"}
    status, _, body = web.get(HOST, "/api/v1/me", api)
    assert status == 200 and json.loads(body)["email"] == "a-owner@example.com"
    assert web.get(HOST, "/", portal)[0] == 200
    workers = web.worker_pids()

    cluster.stop()
    for _ in range(3):
        status, headers, body = web.get(HOST, "/api/v1/me", api)
        assert status == 503 and headers["content-type"] == "application/json"
        assert json.loads(body) == {
            "error": {
                "status": 503,
                "code": "unavailable",
                "message": "The service is briefly unavailable; try again shortly.",
            }
        }
        assert headers["retry-after"] == "5"
        status, headers, body = web.call(
            "POST", HOST, "/api/v1/queries", {**api, "Content-Type": "application/json"}, b'{"name": "x"}'
        )
        assert status == 503 and json.loads(body)["error"]["code"] == "unavailable"
        status, headers, body = web.get(HOST, "/", portal)
        assert status == 503 and headers["content-type"].startswith("text/html")
        assert b"Briefly unavailable" in body and b"Traceback" not in body and b"psycopg" not in body

    cluster.start()
    assert wait_for(lambda: web.get(HOST, "/api/v1/me", api)[0] == 200, timeout=60), web.log.read_text()[
        -3000:
    ]
    assert web.get(HOST, "/", portal)[0] == 200
    assert web.worker_pids() == workers  # the same worker process, not a restarted one
