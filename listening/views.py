"""Listening pages of the portal: the mention stream, "more like this", queries with a live-count
editor, sources, file uploads, and emerging topics.

Views are thin: a form from `listening.forms` checks the input, one selector or service does the
work, a template renders. htmx asks for parts of the same pages (the stream's results, the next
page of mentions, the editor's count, an upload's progress); every part is also reachable as a
whole page, so links are shareable and the pages work without JavaScript. Everyone in the tenant
reads; writing needs the EDIT capability (analysts and admins), as in the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.timesince import timesince
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from listening import querylang, selectors
from listening.connectors import upload as upload_connector
from listening.connectors.base import ConnectorError
from listening.forms import (
    LANGUAGE_NAMES,
    MAPPING_FIELDS,
    SOURCE_FORMS,
    Cursor,
    InboxFilterForm,
    InboxReplyForm,
    InboxSettingsForm,
    QueryForm,
    QueryPreviewForm,
    StreamFilterForm,
    TopicListForm,
    UploadForm,
    UploadMappingForm,
)
from listening.models import (
    WAITING_STATUSES,
    BackfillStatus,
    InboxItem,
    Mention,
    Query,
    Topic,
    TopicSnapshot,
    UploadJob,
    UploadStatus,
)
from listening.nlp.language import LANGUAGES as DETECTED_LANGUAGES
from listening.nlp.needs_reply import Reason
from listening.services import inbox as inbox_services
from listening.services import queries as query_services
from listening.services import sources as source_services
from listening.services import uploads as upload_services
from tenants.access import Access, Capability
from tenants.api_parity import api_equivalent
from tenants.views import _form_errors, tenant_page

PAGE_SIZE = 25
PREVIEW_DAYS = 7
NEW_SECRET_SESSION_KEY = "listening:new-secret"  # noqa: S105 - a session key name
EDIT_REFUSED = "Changing listening settings needs the 'edit' permission (analysts and admins)."


def _require_edit(access: Access) -> None:
    if not access.can(Capability.EDIT):
        raise PermissionDenied(EDIT_REFUSED)


def _is_fragment_request(request: HttpRequest) -> bool:
    # htmx marks its history restores (a back button after a cache miss) as htmx requests too, but
    # they replace the whole body: they need the whole page.
    return request.headers.get("HX-Request") == "true" and "HX-History-Restore-Request" not in request.headers


# Mentions ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Card:
    """A mention as a card shows it, with the queries that tagged it."""

    mention: Mention
    queries: list[Query]

    @property
    def link(self) -> str:
        # Only web links become links: a URL that came in a feed or a file is never javascript:.
        url = self.mention.url
        return url if url.lower().startswith(("https://", "http://")) else ""

    @property
    def age(self) -> str:
        # One unit ("3 hours"), as social tools show it; the exact time is in the title.
        return timesince(self.mention.posted_at, depth=1)

    @property
    def language(self) -> str:
        return LANGUAGE_NAMES.get(self.mention.lang, self.mention.lang)

    @property
    def followers(self) -> str:
        count = self.mention.author_followers
        if count is None:
            return ""
        for size, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
            # Rounded first, so 999,960 reads "1M" rather than "1000k".
            if (rounded := round(count / size, 1)) >= 1:
                return f"{rounded:g}{suffix}"
        return str(count)

    @property
    def confidence(self) -> int | None:
        score = self.mention.sentiment_score
        return round(score * 100) if score is not None else None

    @property
    def shares(self) -> int:
        story = self.mention.story
        return story.mention_count if story is not None and story.mention_count > 1 else 0

    @property
    def similarity(self) -> int | None:
        distance = getattr(self.mention, "distance", None)
        return round((1 - distance) * 100) if distance is not None else None


def _cards(mentions: Iterable[Mention], queries: Iterable[Query]) -> list[Card]:
    by_id = {query.pk: query for query in queries}
    return [
        Card(
            mention=mention,
            queries=[by_id[m.query_id] for m in mention.query_matches.all() if m.query_id in by_id],
        )
        for mention in mentions
    ]


@require_GET
@tenant_page()
def stream_view(request: HttpRequest, access: Access) -> HttpResponse:
    queries = list(selectors.query_list())
    sources = list(selectors.source_list())
    form = StreamFilterForm(request.GET, queries=queries, sources=sources)
    form.is_valid()  # a field with an error is reported and left out of the filters
    mentions = selectors.mention_list(filters=form.filters(now=timezone.now()))
    cursor = form.cursor_value
    if cursor is not None:
        mentions = mentions.filter(
            Q(posted_at__lt=cursor.posted_at) | Q(posted_at=cursor.posted_at, pk__lt=cursor.pk)
        )
    found = list(mentions[: PAGE_SIZE + 1])
    page = found[:PAGE_SIZE]
    more = ""
    if len(found) > PAGE_SIZE:
        params = request.GET.copy()
        params["cursor"] = Cursor(posted_at=page[-1].posted_at, pk=page[-1].pk).encode()
        more = params.urlencode()
    context = {
        "tab": "stream",
        "form": form,
        "cards": _cards(page, queries),
        "more": more,
        "continued": cursor is not None,
        "has_sources": bool(sources),
        "is_filtered": form.is_filtered,
    }
    if not _is_fragment_request(request):
        response = render(request, "listening/stream.html", context)
    elif cursor is not None:
        response = render(request, "listening/_stream_page.html", context)
    else:
        response = render(request, "listening/_stream_results.html", context)
        # The address htmx pushes names the filters in use, not every empty field of the form.
        used = {name: value for name, value in request.GET.items() if value}
        response["HX-Push-Url"] = f"{request.path}?{urlencode(used)}" if used else request.path
    # The same URL answers a page or a fragment: caches must keep them apart (htmx docs, "Caching").
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@tenant_page()
def similar_view(request: HttpRequest, access: Access, mention_id: int) -> HttpResponse:
    mention = selectors.mention_get(mention_id=mention_id)
    queries = list(selectors.query_list())
    similar = selectors.mention_similar(mention=mention, filters=selectors.MentionFilters())
    return render(
        request,
        "listening/similar.html",
        {
            "tab": "stream",
            "card": _cards([mention], queries)[0],
            "cards": _cards(similar, queries),
            "analysed": mention.embedding is not None,
        },
    )


# Queries -----------------------------------------------------------------------------------------


def _query_get(query_id: int) -> Query:
    return get_object_or_404(selectors.query_list(), pk=query_id)


@api_equivalent("queries_create")
@require_http_methods(["GET", "POST"])
@tenant_page()
def queries_view(request: HttpRequest, access: Access) -> HttpResponse:
    form = QueryForm(request.POST or None)
    if request.method == "POST":
        _require_edit(access)
        if form.is_valid():
            try:
                query = query_services.query_create(**form.cleaned_data)
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(
                    request, f"Query '{query.name}' was created. Stored mentions are being tagged now."
                )
                return redirect("listening-queries")
    query_list = list(selectors.query_list())
    return render(
        request,
        "listening/queries.html",
        {
            "tab": "queries",
            "queries": query_list,
            "form": form,
            "can_edit": access.can(Capability.EDIT),
            "backfilling": any(
                q.backfill_status in (BackfillStatus.QUEUED, BackfillStatus.RUNNING) for q in query_list
            ),
            "preview_days": PREVIEW_DAYS,
        },
    )


@api_equivalent("queries_partial_update")
@require_http_methods(["GET", "POST"])
@tenant_page()
def query_edit_view(request: HttpRequest, access: Access, query_id: int) -> HttpResponse:
    query = _query_get(query_id)
    initial = {
        "name": query.name,
        "kind": query.kind,
        "expression": query.expression,
        "is_active": query.is_active,
    }
    form = QueryForm(request.POST or None, initial=initial)
    if request.method == "POST":
        _require_edit(access)
        if form.is_valid():
            retag = form.cleaned_data["expression"] != query.expression
            try:
                query = query_services.query_update(query=query, **form.cleaned_data)
            except ValidationError as error:
                _form_errors(form, error)
            else:
                note = " Stored mentions are being re-tagged with the new expression." if retag else ""
                messages.success(request, f"Query '{query.name}' was saved.{note}")
                return redirect("listening-queries")
    return render(
        request,
        "listening/query_edit.html",
        {
            "tab": "queries",
            "query": query,
            "form": form,
            "can_edit": access.can(Capability.EDIT),
            "preview_days": PREVIEW_DAYS,
        },
    )


@api_equivalent("queries_destroy")
@require_POST
@tenant_page(Capability.EDIT)
def query_delete_view(request: HttpRequest, access: Access, query_id: int) -> HttpResponse:
    query = _query_get(query_id)
    query_services.query_delete(query=query)
    messages.success(request, f"Query '{query.name}' was deleted; its tags are gone from the stream.")
    return redirect("listening-queries")


@api_equivalent("queries_preview_create")
@require_POST
@tenant_page()
def query_preview_view(request: HttpRequest, access: Access) -> HttpResponse:
    """The editor's live count (a read, like the API's preview: viewers may ask too)."""
    form = QueryPreviewForm(request.POST)
    context: dict[str, Any] = {"days": PREVIEW_DAYS}
    if not form.is_valid():
        context["error"] = " ".join(str(message) for errors in form.errors.values() for message in errors)
    elif form.cleaned_data["expression"].strip():
        days = context["days"] = form.cleaned_data["days"] or PREVIEW_DAYS
        try:
            context["preview"] = query_services.query_preview(
                expression=form.cleaned_data["expression"], days=days
            )
        except ValidationError as error:
            context["error"] = " ".join(error.messages)
            # The service keeps the parser's error as the cause: it draws the caret.
            cause = error.__cause__
            if isinstance(cause, querylang.QuerySyntaxError):
                context["caret"] = cause.render()
    return render(request, "listening/_query_preview.html", context)


# Sources -----------------------------------------------------------------------------------------


@api_equivalent("sources_create")
@require_http_methods(["GET", "POST"])
@tenant_page()
def sources_view(request: HttpRequest, access: Access) -> HttpResponse:
    add_forms = {kind: form_class(prefix=kind) for kind, form_class in SOURCE_FORMS.items()}
    if request.method == "POST":
        _require_edit(access)
        kind = request.POST.get("kind", "")
        if kind not in SOURCE_FORMS:
            messages.error(request, "Choose a kind of source to add.")
            return redirect("listening-sources")
        form = add_forms[kind] = SOURCE_FORMS[kind](request.POST, prefix=kind)
        if form.is_valid():
            try:
                created = source_services.source_create(
                    name=form.cleaned_data["name"], kind=kind, config=form.config()
                )
            except ValidationError as error:
                _form_errors(form, error)
            else:
                if created.secret:
                    request.session[NEW_SECRET_SESSION_KEY] = [created.source.pk, created.secret]
                messages.success(request, f"Source '{created.source.name}' was added.")
                return redirect("listening-source", source_id=created.source.pk)
    return render(
        request,
        "listening/sources.html",
        {
            "tab": "sources",
            "sources": selectors.source_list(),
            "add_forms": add_forms,
            "can_edit": access.can(Capability.EDIT),
        },
    )


@require_GET
@tenant_page()
def source_view(request: HttpRequest, access: Access, source_id: int) -> HttpResponse:
    """A source and how to send to it. A new webhook secret rides in the session from the POST
    that made it to this page, which removes it: it is shown once (as API tokens are)."""
    source = selectors.source_get(source_id=source_id)
    new_secret = ""
    pending = request.session.pop(NEW_SECRET_SESSION_KEY, None)
    if isinstance(pending, list) and len(pending) == 2 and pending[0] == source.pk:
        new_secret = str(pending[1])
    return render(
        request,
        "listening/source.html",
        {
            "tab": "sources",
            "source": source,
            "new_secret": new_secret,
            "webhook_url": request.build_absolute_uri(
                reverse("listening-webhook", kwargs={"source_id": source.pk})
            ),
            "bulk_url": request.build_absolute_uri(reverse("source-ingest", kwargs={"pk": source.pk})),
            "can_edit": access.can(Capability.EDIT),
            "can_manage": access.can(Capability.MANAGE),
        },
    )


@api_equivalent("sources_partial_update")
@require_POST
@tenant_page(Capability.EDIT)
def source_active_view(request: HttpRequest, access: Access, source_id: int, active: bool) -> HttpResponse:
    source = source_services.source_update(source=selectors.source_get(source_id=source_id), is_active=active)
    state = "resumed" if active else "paused"
    messages.success(request, f"Source '{source.name}' is {state}.")
    return redirect("listening-source", source_id=source.pk)


@api_equivalent("sources_rotate_secret_create")
@require_POST
@tenant_page(Capability.EDIT)
def source_rotate_view(request: HttpRequest, access: Access, source_id: int) -> HttpResponse:
    source = selectors.source_get(source_id=source_id)
    try:
        secret = source_services.source_rotate_secret(source=source)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        request.session[NEW_SECRET_SESSION_KEY] = [source.pk, secret]
        messages.success(request, "A new secret was made. The previous one keeps working for 24 hours.")
    return redirect("listening-source", source_id=source.pk)


# Uploads -----------------------------------------------------------------------------------------


def _upload_get(upload_id: int) -> UploadJob:
    return get_object_or_404(selectors.upload_list(), pk=upload_id)


def _upload_preview(job: UploadJob) -> upload_connector.UploadPreview | None:
    """The file's columns and first rows, read again from its head: upload_create sniffed the same
    bytes, but its preview does not survive the redirect to this page."""
    try:
        with job.file.open("rb") as stream:
            return upload_connector.sniff(stream.read(upload_services.PREVIEW_BYTES))
    except (ConnectorError, OSError):
        return None


@api_equivalent("uploads_create")
@require_http_methods(["GET", "POST"])
@tenant_page()
def uploads_view(request: HttpRequest, access: Access) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        _require_edit(access)
        if form.is_valid():
            try:
                created = upload_services.upload_create(
                    file=form.cleaned_data["file"], created_by_id=access.user.pk
                )
            except ValidationError as error:
                _form_errors(form, error)
            else:
                return redirect("listening-upload", upload_id=created.job.pk)
    return render(
        request,
        "listening/uploads.html",
        {
            "tab": "uploads",
            "uploads": selectors.upload_list()[:50],
            "form": form,
            "can_edit": access.can(Capability.EDIT),
        },
    )


@api_equivalent("uploads_start_create")
@require_http_methods(["GET", "POST"])
@tenant_page()
def upload_view(request: HttpRequest, access: Access, upload_id: int) -> HttpResponse:
    """An upload: its column mapping while it waits for one, then its progress."""
    job = _upload_get(upload_id)
    preview = _upload_preview(job) if job.status == UploadStatus.MAPPING else None
    columns = preview.columns if preview is not None else []
    form = UploadMappingForm(request.POST or None, initial=job.mapping, columns=columns)
    if request.method == "POST":
        _require_edit(access)
        if job.status != UploadStatus.MAPPING:  # a second click, or a stale tab
            messages.info(request, "This upload has already been started.")
            return redirect("listening-upload", upload_id=job.pk)
        if form.is_valid():
            try:
                upload_services.upload_start(job=job, mapping=form.mapping())
            except ValidationError as error:
                _form_errors(form, error)
            else:
                messages.success(request, f"Importing {job.original_name}.")
                return redirect("listening-upload", upload_id=job.pk)
    return render(
        request,
        "listening/upload.html",
        {
            "tab": "uploads",
            "job": job,
            "preview": preview,
            "form": form,
            "mapping_fields": MAPPING_FIELDS,
            "can_edit": access.can(Capability.EDIT),
        },
    )


@require_GET
@tenant_page()
def upload_progress_view(request: HttpRequest, access: Access, upload_id: int) -> HttpResponse:
    return render(request, "listening/_upload_progress.html", {"job": _upload_get(upload_id)})


# Dashboard ---------------------------------------------------------------------------------------

DASHBOARD_RANGES = [
    ("1h", "Last hour"),
    ("24h", "Last 24 hours"),
    ("7d", "Last 7 days"),
    ("30d", "Last 30 days"),
    ("90d", "Last 90 days"),
    ("1y", "Last year"),
    ("custom", "Custom"),
]
# The language filter's choices, by name: the same for every request.
DASHBOARD_LANGUAGES = sorted(
    ((code, LANGUAGE_NAMES.get(code, code)) for code in DETECTED_LANGUAGES), key=lambda x: x[1]
)


# Topics ------------------------------------------------------------------------------------------

TOPICS_SHOWN = 50
SPARKLINE_DAYS = 7
TOPIC_MENTIONS_SHOWN = 50


@dataclass
class TopicRow:
    """A topic as the topic list (and the dashboard's top topics) shows it."""

    topic: Topic
    history: list[TopicSnapshot]

    @property
    def growth(self) -> str:
        """ "+120 %", "-30 %", or "new" for a topic nobody spoke of in the window before."""
        if self.topic.previous_volume == 0:
            return "new"
        percent = round(self.topic.growth * 100)
        return f"+{percent} %" if percent >= 0 else f"-{-percent} %"

    @property
    def rising(self) -> bool:
        return self.topic.growth > 0

    def _share(self, count: int) -> int:
        return round(100 * count / self.topic.volume) if self.topic.volume else 0

    @property
    def sentiment(self) -> list[tuple[str, int, int]]:
        """(sentiment, mentions, percent of the volume) for the sentiment bar."""
        t = self.topic
        return [
            (name, count, self._share(count))
            for name, count in (("negative", t.negative), ("neutral", t.neutral), ("positive", t.positive))
        ]

    @property
    def sparkline(self) -> str:
        """[[time, volume], ...] for the Chart.js sparkline (static/js/topics.js)."""
        return json.dumps([[s.taken_at.isoformat(), s.volume] for s in self.history])


def topic_rows(topics: Iterable[Topic], *, now: datetime) -> list[TopicRow]:
    """Rows with their last week of snapshots, in two queries whatever the number of topics."""
    listed = list(topics)
    histories = selectors.topic_histories(
        topic_ids=[t.pk for t in listed], since=now - timedelta(days=SPARKLINE_DAYS)
    )
    return [TopicRow(topic=t, history=histories[t.pk]) for t in listed]


# Inbox -------------------------------------------------------------------------------------------

INBOX_PAGE_SIZE = 50
INBOX_STATS_DAYS = 30


def _duration(seconds: float | None) -> str:
    """ "4 min", "2 h 5 min", "3 d 4 h": the two largest units, as response-time reports show them."""
    if seconds is None:
        return "\u2013"  # an en dash: no value
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


@dataclass(frozen=True)
class InboxCard:
    """An inbox item as the page shows it."""

    item: InboxItem
    people: dict[int, Any]
    now: Any

    @property
    def card(self) -> Card:
        return Card(mention=self.item.mention, queries=[])

    @property
    def reasons(self) -> list[tuple[str, str]]:
        return [(reason, Reason.LABELS.get(reason, reason)) for reason in self.item.reasons]

    @property
    def assignee(self) -> str:
        person = self.people.get(self.item.assignee_id) if self.item.assignee_id else None
        return person.display_name if person else ""

    @property
    def waiting(self) -> str:
        return _duration((self.now - self.item.received_at).total_seconds())

    @property
    def is_waiting(self) -> bool:
        return self.item.status in WAITING_STATUSES

    @property
    def response_time(self) -> str:
        first = self.item.first_response_at
        return _duration((first - self.item.received_at).total_seconds()) if first else ""

    @property
    def rank(self) -> int:
        return round(getattr(self.item, "rank", self.item.priority))


def _inbox_cards(items: list[InboxItem]) -> list[InboxCard]:
    selectors.inbox_items_load(items=items)
    people = selectors.inbox_people(user_ids=[i.assignee_id for i in items])
    now = timezone.now()
    return [InboxCard(item=item, people=people, now=now) for item in items]


@dataclass(frozen=True)
class StatsRow:
    name: str
    times: selectors.ResponseTimes
    waiting: int

    @property
    def median(self) -> str:
        return _duration(self.times.median_s)

    @property
    def p90(self) -> str:
        return _duration(self.times.p90_s)

    @property
    def within_target(self) -> str:
        share = self.times.within_target_share
        return f"{share:.0%}" if share is not None else "\u2013"


def _inbox_stats_context() -> dict[str, Any]:
    settings = selectors.inbox_settings_get()
    until = timezone.now()
    stats = selectors.inbox_stats(
        since=until - timedelta(days=INBOX_STATS_DAYS),
        until=until,
        target_s=settings.response_target_minutes * 60,
    )
    oldest = stats.oldest_waiting_at
    return {
        "stats": stats,
        "stats_overall": StatsRow(name="Everyone", times=stats.overall, waiting=stats.waiting),
        "stats_members": [StatsRow(name=m.name, times=m.times, waiting=m.waiting) for m in stats.members],
        "stats_target": _duration(stats.target_s),
        "stats_days": INBOX_STATS_DAYS,
        "oldest_waiting": _duration((until - oldest).total_seconds()) if oldest else "",
    }


@require_GET
@tenant_page()
def dashboard_view(request: HttpRequest, access: Access) -> HttpResponse:
    """The page is a frame: each panel fetches its data from the metrics API (the same endpoints
    an API client uses, with the session), so charts and CSV downloads cannot disagree."""
    context = {
        "tab": "dashboard",
        "ranges": DASHBOARD_RANGES,
        "queries": list(selectors.query_list().only("id", "name", "kind")),
        "sources": list(selectors.source_list().only("id", "name")),
        "languages": DASHBOARD_LANGUAGES,
    }
    return render(request, "listening/dashboard.html", context)


@require_GET
@tenant_page()
def topics_view(request: HttpRequest, access: Access) -> HttpResponse:
    form = TopicListForm(request.GET)
    form.is_valid()  # a field with an error falls back to its default
    filters, sort = form.filters()
    now = timezone.now()
    rows = topic_rows(selectors.topic_list(filters=filters, sort=sort)[:TOPICS_SHOWN], now=now)
    context = {"tab": "topics", "form": form, "rows": rows, "last_run": selectors.topic_run_latest()}
    return render(request, "listening/topics.html", context)


@require_GET
@tenant_page()
def topic_view(request: HttpRequest, access: Access, topic_id: int) -> HttpResponse:
    topic = selectors.topic_get(topic_id=topic_id)
    now = timezone.now()
    history = selectors.topic_history(topic=topic, since=now - timedelta(days=SPARKLINE_DAYS))
    mentions = list(
        selectors.topic_mentions(topic=topic, filters=selectors.MentionFilters())[:TOPIC_MENTIONS_SHOWN]
    )
    chart = [[s.taken_at.isoformat(), s.volume, s.negative, s.neutral, s.positive] for s in history]
    context = {
        "tab": "topics",
        "row": TopicRow(topic=topic, history=history),
        "chart": json.dumps(chart),
        "cards": _cards(mentions, selectors.query_list()),
        "shown": TOPIC_MENTIONS_SHOWN,
    }
    return render(request, "listening/topic.html", context)


@require_GET
@tenant_page()
def inbox_view(request: HttpRequest, access: Access) -> HttpResponse:
    people = list(selectors.inbox_assignable_people(tenant=access.tenant))
    form = InboxFilterForm(request.GET, queries=list(selectors.query_list()), people=people)
    form.is_valid()  # a field with an error is reported and left out of the filters
    items = list(
        selectors.inbox_item_list(
            filters=form.filters(user_id=access.user.pk), now=timezone.now(), top=INBOX_PAGE_SIZE + 1
        )[: INBOX_PAGE_SIZE + 1]
    )
    context = {
        "tab": "inbox",
        "form": form,
        "cards": _inbox_cards(items[:INBOX_PAGE_SIZE]),
        "truncated": len(items) > INBOX_PAGE_SIZE,
        "page_size": INBOX_PAGE_SIZE,
        "is_filtered": form.is_filtered,
        "people": people,
        "can_edit": access.can(Capability.EDIT),
        "settings_form": _inbox_settings_form() if access.can(Capability.MANAGE) else None,
        **_inbox_stats_context(),
    }
    if _is_fragment_request(request):
        response = render(request, "listening/_inbox_results.html", context)
        used = {name: value for name, value in request.GET.items() if value}
        response["HX-Push-Url"] = f"{request.path}?{urlencode(used)}" if used else request.path
    else:
        response = render(request, "listening/inbox.html", context)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _inbox_settings_form(data: Any = None) -> InboxSettingsForm:
    current = selectors.inbox_settings_get()
    initial = {
        "high_reach_followers": current.high_reach_followers,
        "negative_min_score": current.negative_min_score,
        "response_target_minutes": current.response_target_minutes,
    }
    return InboxSettingsForm(data, initial=initial)


@api_equivalent("inbox_settings_partial_update")
@require_POST
@tenant_page(Capability.MANAGE)
def inbox_settings_view(request: HttpRequest, access: Access) -> HttpResponse:
    form = _inbox_settings_form(request.POST)
    if form.is_valid():
        inbox_services.inbox_settings_update(**form.cleaned_data)
        messages.success(request, "Inbox settings saved. They apply to mentions analysed from now on.")
    else:
        errors = "; ".join(
            f"{form.fields[name].label}: {' '.join(str(m) for m in e)}" for name, e in form.errors.items()
        )
        messages.error(request, f"The inbox settings were not saved. {errors}")
    return redirect("listening-inbox")


def _inbox_act(
    request: HttpRequest, access: Access, item_id: int, act: Callable[[InboxItem], Any]
) -> HttpResponse:
    """Run one inbox action; answer htmx with the item's card again (with the error, if any),
    and a plain form post with a redirect back to the inbox."""
    item = selectors.inbox_item_get(item_id=item_id)
    error = ""
    try:
        act(item)
    except ValidationError as failure:
        error = " ".join(failure.messages)
    if not _is_fragment_request(request):
        if error:
            messages.error(request, error)
        return redirect("listening-inbox")
    fresh = selectors.inbox_item_list(
        filters=selectors.InboxFilters(status=selectors.INBOX_ALL), now=timezone.now()
    )
    return render(
        request,
        "listening/_inbox_item.html",
        {
            "c": _inbox_cards([fresh.get(pk=item.pk)])[0],
            "people": list(selectors.inbox_assignable_people(tenant=access.tenant)),
            "can_edit": True,
            "error": error,
        },
    )


@api_equivalent("inbox_assign_create")
@require_POST
@tenant_page(Capability.EDIT)
def inbox_assign_view(request: HttpRequest, access: Access, item_id: int) -> HttpResponse:
    raw = request.POST.get("assignee", "")
    if raw == "me":
        assignee_id: int | None = access.user.pk
    elif raw.isascii() and raw.isdigit() and len(raw) < 19:
        assignee_id = int(raw)
    elif raw == "":
        assignee_id = None  # "Unassigned"
    else:
        return HttpResponseBadRequest("The assignee is a member's id, 'me' or empty.")
    return _inbox_act(
        request,
        access,
        item_id,
        lambda item: inbox_services.inbox_item_assign(
            item=item, tenant=access.tenant, assignee_id=assignee_id, actor=access.user
        ),
    )


def _reply_text(request: HttpRequest) -> str:
    form = InboxReplyForm(request.POST)
    if not form.is_valid():
        raise ValidationError(" ".join(str(m) for errors in form.errors.values() for m in errors))
    return str(form.cleaned_data["text"])


@api_equivalent("inbox_draft_create")
@require_POST
@tenant_page(Capability.EDIT)
def inbox_draft_view(request: HttpRequest, access: Access, item_id: int) -> HttpResponse:
    return _inbox_act(
        request,
        access,
        item_id,
        lambda item: inbox_services.inbox_item_draft(item=item, text=_reply_text(request), actor=access.user),
    )


@api_equivalent("inbox_answer_create")
@require_POST
@tenant_page(Capability.EDIT)
def inbox_answer_view(request: HttpRequest, access: Access, item_id: int) -> HttpResponse:
    return _inbox_act(
        request,
        access,
        item_id,
        lambda item: inbox_services.inbox_item_answer(
            item=item, reply=_reply_text(request), actor=access.user
        ),
    )


@api_equivalent("inbox_close_create")
@require_POST
@tenant_page(Capability.EDIT)
def inbox_close_view(request: HttpRequest, access: Access, item_id: int) -> HttpResponse:
    return _inbox_act(
        request, access, item_id, lambda item: inbox_services.inbox_item_close(item=item, actor=access.user)
    )


@api_equivalent("inbox_reopen_create")
@require_POST
@tenant_page(Capability.EDIT)
def inbox_reopen_view(request: HttpRequest, access: Access, item_id: int) -> HttpResponse:
    return _inbox_act(
        request, access, item_id, lambda item: inbox_services.inbox_item_reopen(item=item, actor=access.user)
    )


portal_urlpatterns: list[URLPattern] = [
    path("listening/dashboard/", dashboard_view, name="listening-dashboard"),
    path("listening/", stream_view, name="listening-stream"),
    path("listening/mentions/<int:mention_id>/similar/", similar_view, name="listening-similar"),
    path("listening/queries/", queries_view, name="listening-queries"),
    path("listening/queries/preview/", query_preview_view, name="listening-query-preview"),
    path("listening/queries/<int:query_id>/", query_edit_view, name="listening-query"),
    path("listening/queries/<int:query_id>/delete/", query_delete_view, name="listening-query-delete"),
    path("listening/sources/", sources_view, name="listening-sources"),
    path("listening/sources/<int:source_id>/", source_view, name="listening-source"),
    path(
        "listening/sources/<int:source_id>/pause/",
        source_active_view,
        {"active": False},
        name="listening-source-pause",
    ),
    path(
        "listening/sources/<int:source_id>/resume/",
        source_active_view,
        {"active": True},
        name="listening-source-resume",
    ),
    path(
        "listening/sources/<int:source_id>/rotate-secret/", source_rotate_view, name="listening-source-rotate"
    ),
    path("listening/topics/", topics_view, name="listening-topics"),
    path("listening/topics/<int:topic_id>/", topic_view, name="listening-topic"),
    path("listening/uploads/", uploads_view, name="listening-uploads"),
    path("listening/uploads/<int:upload_id>/", upload_view, name="listening-upload"),
    path(
        "listening/uploads/<int:upload_id>/progress/", upload_progress_view, name="listening-upload-progress"
    ),
    path("listening/inbox/", inbox_view, name="listening-inbox"),
    path("listening/inbox/settings/", inbox_settings_view, name="listening-inbox-settings"),
    path("listening/inbox/<int:item_id>/assign/", inbox_assign_view, name="listening-inbox-assign"),
    path("listening/inbox/<int:item_id>/draft/", inbox_draft_view, name="listening-inbox-draft"),
    path("listening/inbox/<int:item_id>/answer/", inbox_answer_view, name="listening-inbox-answer"),
    path("listening/inbox/<int:item_id>/close/", inbox_close_view, name="listening-inbox-close"),
    path("listening/inbox/<int:item_id>/reopen/", inbox_reopen_view, name="listening-inbox-reopen"),
]
