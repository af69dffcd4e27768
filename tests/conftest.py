"""Shared fixtures. Two client tenants (A and B) exist for the whole session, cloned from the
template schema once; an agency "Ag" is linked to A only. Tests run in transactions that roll back.

Never use pytest-django's `transactional_db` or `live_server` here: their flush would truncate the
session's tenants. Tests that need committed data use `committed` and clean up after themselves.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.test import Client

from tenants.middleware import routes_clear
from tenants.models import Agency, Membership, Role, Tenant, User
from tenants.services import (
    agency_member_set,
    platform_ensure,
    tenant_create,
    tenant_domain,
    token_create,
)

PASSWORD = "correct-horse-battery-staple"


@dataclass
class World:
    a: Tenant
    b: Tenant
    agency: Agency
    users: dict[str, User]

    def host(self, tenant: Tenant | None) -> str:
        return tenant_domain(tenant.slug) if tenant else settings.CANDOR_BASE_DOMAIN


def _block_network() -> None:
    """Tests reach only this machine: the outside world is faked, never called."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith(("127.", "/")) or host in ("localhost", "::1")):
            raise OSError(f"network access in tests is blocked: {address!r}")
        return real_connect(self, address)

    socket.socket.connect = guarded  # type: ignore[method-assign]


_block_network()


@pytest.fixture(scope="session")
def django_db_setup(
    request: pytest.FixtureRequest,
    django_test_environment: None,
    django_db_blocker: Any,
    django_db_keepdb: bool,
    django_db_modify_db_settings: None,
) -> Iterator[World]:
    """pytest-django's set-up, for every test session: it would skip the database when no test
    asks for `db` (worker and browser tests use committed rows instead)."""
    from django.test.utils import setup_databases, teardown_databases

    with django_db_blocker.unblock():
        config = setup_databases(
            verbosity=request.config.option.verbose,
            interactive=False,
            keepdb=django_db_keepdb,
            aliases={"default"},
        )
        world = _build_world()
    yield world
    with django_db_blocker.unblock():
        teardown_databases(config, verbosity=request.config.option.verbose)


def _build_world() -> World:
    platform_ensure()
    agency = Agency.objects.create(name="Agency Ag", slug="agency-ag")
    a = tenant_create(name="Tenant A", slug="tenant-a", agency=agency)
    b = tenant_create(name="Tenant B", slug="tenant-b")
    users: dict[str, User] = {}
    for role in Role.values:
        users[f"a_{role}"] = User.objects.create_user(
            f"a-{role}@example.com", PASSWORD, full_name=f"A {role}"
        )
        Membership.objects.create(user=users[f"a_{role}"], tenant=a, role=role)
    users["b_owner"] = User.objects.create_user("b-owner@example.com", PASSWORD, full_name="B owner")
    Membership.objects.create(user=users["b_owner"], tenant=b, role=Role.OWNER)
    users["b_admin"] = User.objects.create_user("b-admin@example.com", PASSWORD, full_name="B admin")
    Membership.objects.create(user=users["b_admin"], tenant=b, role=Role.ADMIN)
    users["ag_admin"] = User.objects.create_user("ag-admin@example.com", PASSWORD, full_name="Ag admin")
    agency_member_set(agency=agency, user=users["ag_admin"], role=Role.ADMIN)
    users["ag_viewer"] = User.objects.create_user("ag-viewer@example.com", PASSWORD)
    agency_member_set(agency=agency, user=users["ag_viewer"], role=Role.VIEWER)
    return World(a=a, b=b, agency=agency, users=users)


@pytest.fixture
def world(django_db_setup: World, db: None) -> World:
    """The session's world with fresh copies of its rows, so no test sees another's edits."""
    session = django_db_setup
    fresh = User.objects.in_bulk([u.pk for u in session.users.values()])
    return World(
        a=Tenant.objects.get(pk=session.a.pk),
        b=Tenant.objects.get(pk=session.b.pk),
        agency=Agency.objects.get(pk=session.agency.pk),
        users={key: fresh[u.pk] for key, u in session.users.items()},
    )


@pytest.fixture(autouse=True)
def _fresh_state() -> Iterator[None]:
    yield
    cache.clear()
    routes_clear()
    connection.set_schema_to_public()


class Api:
    """Real HTTP through Django's test client, on a tenant's host (or the public host)."""

    def __init__(self, host: str, token: str | None = None, user: User | None = None) -> None:
        self.client = Client(HTTP_HOST=host)
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        if user is not None:
            self.client.force_login(user)

    def call(self, method: str, path: str, data: Any = None, **extra: Any) -> Any:
        fn = getattr(self.client, method.lower())
        kwargs: dict[str, Any] = {**self.headers, **extra}
        if method.upper() in ("POST", "PUT", "PATCH", "DELETE") and data is not None:
            kwargs["content_type"] = "application/json"
        return fn(path, data, **kwargs) if data is not None else fn(path, **kwargs)

    def get(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.call("GET", path, data, **extra)

    def post(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.call("POST", path, data if data is not None else {}, **extra)

    def patch(self, path: str, data: Any = None, **extra: Any) -> Any:
        return self.call("PATCH", path, data if data is not None else {}, **extra)

    def delete(self, path: str, **extra: Any) -> Any:
        return self.call("DELETE", path, None, **extra)


@pytest.fixture
def api_for(world: World) -> Any:
    """api_for(user, tenant=A) signs the user in (session); api_for(user, scope="read") instead
    creates a token of theirs for the tenant (only admins and owners may create one)."""

    def make(user_key: str, tenant: Tenant | None = None, scope: str | None = None, **token_args: Any) -> Api:
        user = world.users[user_key]
        target = tenant if tenant is not None else world.a
        host = world.host(target if target.is_client else None)
        if scope is None:
            return Api(host, user=user)
        token_args.setdefault("tenants", [target] if target.is_client else [])
        _, raw = token_create(user=user, name="test", scope=scope, **token_args)
        return Api(host, token=raw)

    return make


@pytest.fixture(scope="session")
def committed(django_db_setup: World, django_db_blocker: Any) -> Iterator[World]:
    """Autocommit access for tests that need other processes (a worker, a browser) to see rows."""
    with django_db_blocker.unblock():
        yield django_db_setup


@pytest.fixture(scope="session")
def worker_receiver() -> Iterator[Any]:
    """A local HTTP server the worker may reach (its one allowed loopback port): worker tests set its
    routes to stand in for a webhook receiver."""
    from tests.listening.fixtures.httpd import serve

    with serve({}) as server:
        yield server


# A test's Celery worker: every queue, one process, no heartbeats or gossip between workers.
WORKER_COMMAND = [
    sys.executable,
    "-m",
    "celery",
    "-A",
    "config",
    "worker",
    "-Q",
    "default,ingest,nlp,ml,publish",
    "--concurrency",
    "1",
    "--loglevel",
    "INFO",
    "--without-heartbeat",
    "--without-gossip",
]


@pytest.fixture(scope="session")
def celery_worker(
    committed: World, tmp_path_factory: pytest.TempPathFactory, worker_receiver: Any
) -> Iterator[Path]:
    """A real Celery worker process on every queue, the configured broker (Redis in CI, the
    embedded filesystem transport otherwise) and the test database. Yields its log file."""
    from config.celery import app
    from config.embedded import url_for

    log = tmp_path_factory.mktemp("worker") / "worker.log"
    app.control.purge()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": url_for(settings.DATABASES["default"]),
        "CANDOR_DATA_DIR": str(settings.DATA_DIR),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        # Outbound HTTP from the worker may reach the test's receiver, and nothing else local.
        "LISTENING_FETCH_ALLOWED_NETWORKS": "127.0.0.1/32",
        "LISTENING_FETCH_ALLOWED_PORTS": str(worker_receiver.port),
    }
    with log.open("w") as out:
        process = subprocess.Popen(
            WORKER_COMMAND,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_for(predicate: Any, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
