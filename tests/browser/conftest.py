"""Browser fixtures: a live Django server in a thread, Debian's chromium driven by Playwright.

The server is started here rather than with pytest-django's `live_server`: that fixture needs
`transactional_db`, whose flush would truncate the session's tenants. The server thread reads
through connections of its own, so rows a test prepares for it are written through `committed`
(autocommit) and deleted by the test that made them. The package puts back what signing in
touches: sessions, audit events and `last_login`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler

import pytest
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.servers.basehttp import ThreadedWSGIServer
from django.core.wsgi import get_wsgi_application
from django.db import connections
from django.test import override_settings
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, sync_playwright

from tenants.models import AuditEvent, User
from tests.conftest import PASSWORD, World

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# `make screenshots` points this at docs/screenshots for the README; other runs keep them out of git.
SCREENSHOTS = Path(
    os.environ.get("CANDOR_SCREENSHOTS_DIR")
    or Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"
)
# Long enough for a cold page on a loaded CI machine, short enough to keep a broken run quick.
TIMEOUT_MS = 10_000


class _QuietHandler(WSGIRequestHandler):
    """One log line per request would bury pytest's output."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class LiveServer:
    port: int

    @property
    def public(self) -> str:
        return f"http://localhost:{self.port}"

    def tenant(self, slug: str) -> str:
        return f"http://{slug}.localhost:{self.port}"


@pytest.fixture(scope="package")
def live(django_db_setup: World, django_db_blocker: Any) -> Iterator[LiveServer]:
    """The whole WSGI stack (tenant routing, WhiteNoise, sessions) on 127.0.0.1, one thread per
    request. Django's ThreadedWSGIServer closes each request thread's connections when it is done,
    so no connection outlives a request and the test database can be dropped at the end."""
    with django_db_blocker.unblock():
        sessions_before = set(Session.objects.values_list("session_key", flat=True))
        last_audit = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
        last_logins = dict(User.objects.values_list("pk", "last_login"))
        # Port 0: the kernel picks a free port, with no race between choosing and binding it.
        server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler)
        port = int(server.server_port)
        server.set_app(get_wsgi_application())
        thread = threading.Thread(target=server.serve_forever, name="browser-live-server", daemon=True)
        # Hand-off links and sign-out redirects are absolute URLs built from CANDOR_PUBLIC_URL.
        with override_settings(CANDOR_PUBLIC_URL=f"http://localhost:{port}"):
            thread.start()
            try:
                yield LiveServer(port=port)
            finally:
                server.shutdown()
                server.server_close()
                thread.join(timeout=5)
        Session.objects.exclude(session_key__in=sessions_before).delete()
        AuditEvent.objects.filter(id__gt=last_audit).delete()
        for user in User.objects.filter(pk__in=last_logins):
            if user.last_login != last_logins[user.pk]:
                User.objects.filter(pk=user.pk).update(last_login=last_logins[user.pk])


@pytest.fixture(scope="package")
def playwright_browser(live: LiveServer) -> Iterator[Browser]:
    """Package-scoped on purpose: Playwright's sync API keeps an asyncio loop registered as running
    on this thread while it is started, which makes Django refuse ORM calls (SynchronousOnlyOperation)
    in every later test. Stopping it when this package ends keeps the other packages unaffected."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-deps` (never `playwright install`).")
    # Tests and their fixtures query on this thread while the loop is registered. Nothing is really
    # asynchronous here: the loop only runs inside Playwright's own calls.
    unsafe_before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    pw: Playwright = sync_playwright().start()
    try:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        # Django keeps a thread's connections per asyncio context while a loop is registered, so
        # queries made during the package went through a connection of their own: close it now,
        # while it is still reachable, or it would keep the test database from being dropped.
        connections.close_all()
        pw.stop()
        if unsafe_before is None:
            del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = unsafe_before


@pytest.fixture(autouse=True)
def _no_lockout() -> Iterator[None]:
    """Sign-in failures are counted per email and address (127.0.0.1 for every test): start clean."""
    cache.clear()
    yield


@dataclass
class JsErrors:
    """Uncaught exceptions and console errors of every page a test opens. `allow` names console
    messages a test provokes on purpose (the browser logs a 403 or 404 document as an error)."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: uncaught {error}"))
        page.on("console", lambda message: self._console(page, message))

    def _console(self, page: Page, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{page.url}: console error: {message.text}")

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def js_errors() -> JsErrors:
    return JsErrors()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """A page that threw or logged an error fails the test itself (not its teardown), once the
    test's own assertions have passed."""
    result = yield
    collector = getattr(item, "funcargs", {}).get("js_errors")
    if isinstance(collector, JsErrors) and collector.unexpected():
        raise AssertionError("JavaScript errors on the pages visited:\n" + "\n".join(collector.unexpected()))
    return result


@pytest.fixture
def context(playwright_browser: Browser, js_errors: JsErrors) -> Iterator[BrowserContext]:
    """A fresh profile per test: no cookie of one test's sign-in leaks into the next."""
    ctx = playwright_browser.new_context(viewport={"width": 1280, "height": 800}, locale="en-US")
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.set_default_navigation_timeout(TIMEOUT_MS)
    ctx.on("page", js_errors.watch)
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, live: LiveServer, email: str, password: str = PASSWORD) -> None:
    """Sign in on the public host through the form, as a person would."""
    page.goto(f"{live.public}/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    # Wait for the answer to the POST, so the caller's next step looks at the page it produced.
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()


def open_workspace(page: Page, slug: str) -> None:
    """Click a workspace tile in the switcher; the hand-off lands on the tenant's own host."""
    page.locator(f'[data-testid="tenant-list"] a[data-slug="{slug}"]').click()
    page.wait_for_url(re.compile(rf"^http://{re.escape(slug)}\.localhost:\d+/"))
