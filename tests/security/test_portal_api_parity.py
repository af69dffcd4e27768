"""Every portal action is also an API operation (issue 8; README, "The API").

The walk reads both hosts' URLconfs outside /api/. Each portal view restricts its methods (so what
takes a POST is known), and each view that takes a write declares the API operations that do the
same thing (`tenants.api_parity.api_equivalent`) or is one of the few EXCEPTIONS below, with its
reason. Each declared operationId is in the OpenAPI schema with a write method, served on the same
host. Then the portal's pages are crawled as a signed-in owner (and an agency admin) with a record
of each kind, and every template's named form targets are read: each `<form method="post">`,
`formaction` and `hx-post` goes to a view that takes a POST and is declared, so a form added
without its API operation fails here. Nothing is hand-listed but the exceptions: a new route, view
or form is covered the day it is added.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.template.utils import get_app_template_dirs
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django_tenants.utils import tenant_context

from tenants.api_parity import api_equivalent, api_operations
from tests.conftest import World
from tests.security.openapi import spec
from tests.security.test_inventory import _api_routes

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
URLCONFS = {"tenant": "config.urls_tenant", "public": "config.urls_public"}

SIGNING_IN = "an API client authenticates with a token (Settings > API tokens), not a session"
# Portal views that take a POST and have no API operation, and why. Keep it short and honest.
EXCEPTIONS = {
    "tenants.views.sign_in_view": SIGNING_IN,
    "tenants.views.sign_out_view": SIGNING_IN,
    "tenants.views.tenant_sign_out_view": SIGNING_IN,
    "tenants.views.password_reset_view": SIGNING_IN,
    "django.contrib.auth.views.PasswordResetConfirmView": SIGNING_IN,
    "ethics.views.preferences_view": "the contact's own page behind a signed link, not a member's portal; "
    "members record the same consent through contacts_consents_create",
}


@dataclass(frozen=True)
class Route:
    host: str  # "tenant" or "public"
    route: str  # "listening/queries/<int:query_id>/"
    name: str | None
    view: Callable[..., Any]
    default_args: dict[str, Any] = field(hash=False)
    methods: frozenset[str] | None  # None: the view answers every method

    @property
    def dotted(self) -> str:
        target = getattr(self.view, "view_class", self.view)
        return f"{target.__module__}.{target.__qualname__}"

    @property
    def writes(self) -> bool:
        return bool(self.methods and self.methods & WRITES)


def _methods(view: Callable[..., Any], default_args: dict[str, Any]) -> frozenset[str] | None:
    """The methods a view takes: a class-based view's handlers, or a function view's answer to a
    TRACE (`require_http_methods`, outermost as in every portal module, answers 405 with an `Allow`
    header before anything runs). Any other answer, or an error, means its methods are open."""
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        names = view_class.http_method_names
        return frozenset(m.upper() for m in names if m != "options" and hasattr(view_class, m))
    request = RequestFactory().generic("TRACE", "/")
    request.user = AnonymousUser()
    try:
        response = view(request, **default_args)
    except Exception:
        return None
    if response.status_code != 405:
        return None
    return frozenset(method.strip() for method in response["Allow"].split(","))


def _portal_routes() -> list[Route]:
    found: list[Route] = []

    def walk(host: str, patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(host, pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if route.startswith("api/"):  # the API itself, its schema and their viewers
                    continue
                args = dict(pattern.default_args)
                found.append(
                    Route(host, route, pattern.name, pattern.callback, args, _methods(pattern.callback, args))
                )

    for host, urlconf in URLCONFS.items():
        walk(host, get_resolver(urlconf).url_patterns, "")
    return found


@pytest.fixture(scope="module")
def routes() -> list[Route]:
    return _portal_routes()


@pytest.fixture(scope="module")
def operations() -> dict[str, tuple[str, str]]:
    """operationId -> (method, path) of every operation in the schema."""
    return {
        operation["operationId"]: (method.upper(), path)
        for path, item in spec()["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }


def _unaccounted(route: Route) -> bool:
    return route.writes and not api_operations(route.view) and route.dotted not in EXCEPTIONS


def test_the_marker_survives_the_decorators_above_it_and_needs_an_operation():
    from django.views.decorators.http import require_POST

    view = require_POST(api_equivalent("queries_create", "queries_preview_create")(lambda request: None))
    assert api_operations(view) == ("queries_create", "queries_preview_create")
    assert api_operations(lambda request: None) == ()
    with pytest.raises(ValueError, match="operationId"):
        api_equivalent()


def test_the_walk_finds_the_portal_actions_of_both_hosts(routes):
    writes = {(r.host, r.route) for r in routes if r.writes}
    for expected in (
        ("tenant", "listening/queries/"),
        ("tenant", "crisis/incidents/declare/"),
        ("tenant", "crisis/statements/<int:statement_id>/decide/"),
        ("tenant", "settings/members/<int:membership_id>/role/"),
        ("public", "agency/<int:agency_id>/"),
    ):
        assert expected in writes, expected
    assert ("tenant", "listening/") not in writes  # the stream is read-only
    assert len(writes) >= 60


def test_every_portal_view_restricts_its_methods(routes):
    """`require_GET` or `require_http_methods` outermost: a page that answers any method would take
    a POST this test cannot see."""
    assert [(r.host, r.route) for r in routes if r.methods is None] == []


def test_every_portal_write_names_its_api_operation_or_a_reason(routes):
    missing = sorted({(r.route, r.dotted) for r in routes if _unaccounted(r)})
    assert missing == [], "declare @api_equivalent(<operationId>) on these views, or add the API operation"
    both = sorted({r.dotted for r in routes if api_operations(r.view) and r.dotted in EXCEPTIONS})
    assert both == [], "a view with an API operation is no exception"


def test_declarations_and_exceptions_are_not_stale(routes):
    declared_reads = sorted({r.dotted for r in routes if api_operations(r.view) and not r.writes})
    assert declared_reads == [], "only views that take a write declare an API operation"
    routed_writes = {r.dotted for r in routes if r.writes}
    assert set(EXCEPTIONS) - routed_writes == set(), "an exception names no routed view that takes a write"


def test_each_declared_operation_is_a_write_served_on_the_views_host(routes, operations):
    served = {host: _api_routes(urlconf) for host, urlconf in URLCONFS.items()}
    problems = []
    for route in routes:
        for operation_id in api_operations(route.view):
            if operation_id not in operations:
                problems.append((route.route, operation_id, "not in the schema"))
                continue
            method, path = operations[operation_id]
            if method not in WRITES:
                problems.append((route.route, operation_id, f"{method} changes nothing"))
            if path not in served[route.host]:
                problems.append((route.route, operation_id, f"{path} is not served on the {route.host} host"))
    assert problems == []


# Forms on the pages ------------------------------------------------------------------------------


class _Targets(HTMLParser):
    """Where a page's POSTs go: `<form method="post">` (its action, or the page itself),
    `formaction` on the buttons of such a form, and htmx's write attributes anywhere."""

    HTMX = ("hx-post", "hx-put", "hx-patch", "hx-delete")

    def __init__(self, page: str) -> None:
        super().__init__()
        self.page = page
        self.targets: set[str] = set()
        self.in_post_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.in_post_form = values.get("method", "get").lower() == "post"
            if self.in_post_form:
                self.targets.add(values.get("action") or self.page)
        elif "formaction" in values and self.in_post_form:
            self.targets.add(values["formaction"] or self.page)
        self.targets.update(values[name] for name in self.HTMX if values.get(name))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_post_form = False


def _seed(world: World) -> dict[str, Any]:
    """One record of each kind the portal's pages are about, in tenant A, by route parameter."""
    from crisis import incident_services
    from crisis.models import Playbook, Statement
    from ethics.models import ModelVersion, Purpose
    from ethics.services import dsr_create, preference_token
    from listening.models import EMBEDDING_DIM, Mention, Topic, UploadJob
    from listening.services.queries import query_create
    from personalization.records import contact_create
    from tenants.access import access_for
    from tests.crisis.incidents.conftest import make_alert

    with tenant_context(world.a):
        owner = access_for(user=world.users["a_owner"], tenant=world.a)
        assert owner is not None
        alert = make_alert(texts=["Acme login is down for everyone"])
        mention = Mention.objects.get(source__name="Feed")
        incident = incident_services.incident_declare(
            access=owner, title="Login outage", scenario="service_outage", pause="none", alert=alert
        ).incident
        # Written directly: the draft service runs the tone check, whose model takes seconds to load.
        statement = Statement.objects.create(
            incident=incident, title="Holding statement", body="We are looking into it."
        )
        contact = contact_create(name="Ada Lovelace", email="ada@example.org")
        now = datetime.now(UTC)
        centroid = np.zeros(EMBEDDING_DIM)
        centroid[0] = 1.0
        topic = Topic.objects.create(
            label="login · outage", centroid=centroid, first_seen_at=now, last_seen_at=now
        )
        version = ModelVersion.objects.create(
            kind="engagement",
            version=1,
            artifact="models/none",
            artifact_sha256="0" * 64,
            artifact_bytes=0,
            trained_by="test",
        )
        return {
            "incident_id": incident.pk,
            "statement_id": statement.pk,
            "alert_id": alert.pk,
            "rule_id": alert.rule_id,
            "mention_id": mention.pk,
            "source_id": mention.source_id,
            "query_id": query_create(name="Brand", expression="acme", kind="brand").pk,
            "topic_id": topic.pk,
            "upload_id": UploadJob.objects.create(
                source=mention.source, file="uploads/none.csv", original_name="none.csv", file_format="csv"
            ).pk,
            "purpose_id": Purpose.objects.order_by("pk")[0].pk,
            "contact_id": contact.pk,
            "dsr_id": dsr_create(kind="access", actor="test", contact=contact).dsr.pk,
            "version_id": version.pk,
            "playbook_id": Playbook.objects.get(key="service-outage").pk,
            "token": preference_token(contact=contact),
            "agency_id": world.agency.pk,
            "slug": world.a.slug,
            "uidb64": "MQ",
        }


def _fill(route: str, seeds: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in seeds, f"the crawl needs a record for <{name}> (add it to _seed)"
        return str(seeds[name])

    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", value, route)


def _crawl(routes: list[Route], world: World, seeds: dict[str, Any]) -> Iterator[tuple[str, str, str, int]]:
    """(host, page, target, status) for every form target on every page that answers a GET,
    as tenant A's owner on its host, and as the agency's admin and a stranger on the public host."""
    visitors = [
        ("tenant", world.host(world.a), world.users["a_owner"]),
        ("public", world.host(None), world.users["ag_admin"]),
        ("public", world.host(None), None),
    ]
    for host, domain, user in visitors:
        client = Client(HTTP_HOST=domain)
        if user is not None:
            client.force_login(user)
        for route in routes:
            if route.host != host or not route.methods or "GET" not in route.methods:
                continue
            page = _fill(route.route, seeds)
            response = client.get(page)
            yield host, page, "", response.status_code
            if response.get("Content-Type", "").startswith("text/html"):
                parser = _Targets(page)
                parser.feed(response.content.decode())
                for target in parser.targets:
                    yield host, page, target, response.status_code


def _target_route(host: str, target: str, routes: list[Route]) -> Route | None:
    parts = urlsplit(target)
    if parts.netloc:  # an address on the other host (the tenant's sign-out goes to the public one)
        host = "public" if parts.hostname == settings.CANDOR_BASE_DOMAIN else "tenant"
    match = resolve(parts.path, urlconf=URLCONFS[host])
    found = [r for r in routes if r.host == host and r.view is match.func]
    return found[0] if found else None


def test_every_form_on_the_portal_pages_posts_to_a_declared_action(world, routes):
    pages: dict[str, int] = {}
    reached: set[str] = set()
    problems = []
    seeds = _seed(world)
    for host, page, target, status in _crawl(routes, world, seeds):
        pages[f"{host} {page}"] = status
        if not target:
            continue
        route = _target_route(host, target, routes)
        if route is None or not route.writes:
            problems.append((page, target, "does not take a POST"))
        elif _unaccounted(route):
            problems.append((page, target, f"{route.dotted} names no API operation"))
        else:
            reached.add(route.dotted)
    assert problems == []
    assert [(page, status) for page, status in pages.items() if status >= 400] == [
        # A request's export exists once the request ran: a file, no forms.
        (f"tenant /ethics/requests/{seeds['dsr_id']}/download/", 404)
    ]
    # The crawl saw the forms of every app, on both hosts, not a page of redirects.
    assert len(reached) >= 45, sorted(reached)
    for view in ("crisis.statement_views.statement_edit_view", "tenants.views.agency_view"):
        assert view in reached, view


# In a template: a form tag, and the route name of a `{% url %}` in an attribute that sends a write.
_FORM = re.compile(r"<form\b[^>]*>", re.IGNORECASE)
_POST = re.compile(r"""\bmethod=["']post["']""", re.IGNORECASE)
_ACTION = re.compile(r"""\baction="\{% url ['"]([\w-]+)['"]""")
_WRITE_ATTRIBUTE = re.compile(r"""\b(?:formaction|hx-(?:post|put|patch|delete))="\{% url ['"]([\w-]+)['"]""")


def test_every_named_form_target_in_the_templates_takes_a_post(routes):
    """Templates of pages the crawl may not show (a form for one state of a record): each form
    target they name is a route that takes a POST, so the walk above holds it to its declaration."""
    base = Path(settings.BASE_DIR).resolve()
    engines: list[dict[str, Any]] = settings.TEMPLATES
    project = [d for engine in engines for d in engine.get("DIRS", [])]
    folders = [Path(d) for d in (*project, *get_app_template_dirs("templates"))]
    templates = [t for d in folders if d.resolve().is_relative_to(base) for t in d.rglob("*.html")]
    names: set[str] = set()
    for template in templates:
        text = template.read_text(encoding="utf-8")
        names.update(_WRITE_ATTRIBUTE.findall(text))
        for form in _FORM.findall(text):
            if _POST.search(form):
                names.update(_ACTION.findall(form))
    assert len(names) >= 40
    writes = {r.name for r in routes if r.writes}
    assert sorted(names - writes) == []
