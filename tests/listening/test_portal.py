"""The listening pages of the portal, through Django's test client on tenant A's host: who may read
and write, the stream's filters and paging, the query editor's live count, sources, uploads."""

from __future__ import annotations

import html
import itertools
import re
import shutil
import subprocess
import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.postgres.search import SearchVector
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tenants.utils import tenant_context

from listening.connectors import webhook
from listening.models import (
    EMBEDDING_DIM,
    Mention,
    Query,
    QueryMatch,
    Source,
    SourceKind,
    Story,
    UploadJob,
    UploadStatus,
)
from listening.services.uploads import upload_create
from tests.conftest import World

_ids = itertools.count(1)
CSV = (
    b"id,body,created,user,followers\n"
    b"1,Acme cloud is down again,2025-05-01T09:30:00Z,dana,1200\n"
    b"2,Loving the new Acme release,2025-05-01T10:00:00Z,lee,80\n"
)


def on(world: World, user_key: str, **extra: Any) -> Client:
    client = Client(HTTP_HOST="tenant-a.localhost", **extra)
    client.force_login(world.users[user_key])
    return client


def source(world: World, name: str = "Status feed", kind: str = SourceKind.RSS, **fields: Any) -> Source:
    with tenant_context(world.a):
        return Source.objects.create(name=name, kind=kind, **fields)


def mention(world: World, src: Source, text: str, minutes_ago: float = 5, **fields: Any) -> Mention:
    fields.setdefault("enriched_at", timezone.now())
    fields.setdefault("lang", "en")
    fields.setdefault("sentiment", "neutral")
    fields.setdefault("sentiment_score", 0.8)
    with tenant_context(world.a):
        return Mention.objects.create(
            source=src,
            external_id=f"m-{next(_ids)}",
            text=text,
            author_handle=fields.pop("author_handle", "dana"),
            posted_at=timezone.now() - timedelta(minutes=minutes_ago),
            **fields,
        )


def query(world: World, name: str = "Acme", expression: str = "acme", **fields: Any) -> Query:
    with tenant_context(world.a):
        return Query.objects.create(name=name, expression=expression, **fields)


def upload(world: World, content: bytes = CSV, name: str = "export.csv") -> UploadJob:
    with tenant_context(world.a):
        file = SimpleUploadedFile(name, content, content_type="text/csv")
        return upload_create(file=file, created_by_id=world.users["a_analyst"].pk).job


def found(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.S)
    assert match is not None, pattern
    return match.group(1)


def texts(page: str) -> list[str]:
    """The texts of the mention cards on a page, in order."""
    return [
        re.sub(r"<[^>]+>", "", t).strip()
        for t in re.findall(r'<p class="mention-text">(.*?)</p>', page, re.S)
    ]


# Reading and writing ------------------------------------------------------------------------------


def test_every_listening_page_renders_for_a_viewer_without_write_forms(world):
    src = source(world, kind=SourceKind.WEBHOOK, name="Push", secret="s3cret")
    m = mention(world, src, "Acme is down", embedding=[1.0] * EMBEDDING_DIM)
    q = query(world)
    job = upload(world)
    client = on(world, "a_viewer")
    pages = {
        "/listening/": "Acme is down",
        f"/listening/mentions/{m.pk}/similar/": "More like this",
        "/listening/queries/": "acme",
        f"/listening/queries/{q.pk}/": "Analysts and admins can change queries",
        "/listening/sources/": "Push",
        f"/listening/sources/{src.pk}/": "X-Candor-Signature",
        "/listening/uploads/": "export.csv",
        f"/listening/uploads/{job.pk}/": "An analyst or an admin chooses the columns",
    }
    for path, words in pages.items():
        response = client.get(path)
        assert response.status_code == 200, path
        page = response.content.decode()
        assert words in page, path
        # The sidebar keeps "Listening" current; the sub-navigation is on every page.
        assert re.search(r'<a href="/listening/" aria-current="page">Listening</a>', page), path
        assert 'aria-label="Listening"' in page, path
        assert page.count('method="post"') == 1, f"{path} offers a write form besides signing out"
        assert "s3cret" not in page


def test_viewers_are_refused_every_write_and_nothing_changes(world):
    src = source(world, kind=SourceKind.WEBHOOK, name="Push", secret="s3cret")
    q = query(world)
    job = upload(world)
    client = on(world, "a_viewer")
    writes = {
        "/listening/queries/": {"name": "X", "kind": "brand", "expression": "x"},
        f"/listening/queries/{q.pk}/": {"name": "X", "kind": "brand", "expression": "x"},
        f"/listening/queries/{q.pk}/delete/": {},
        "/listening/sources/": {"kind": "api", "api-name": "X"},
        f"/listening/sources/{src.pk}/pause/": {},
        f"/listening/sources/{src.pk}/resume/": {},
        f"/listening/sources/{src.pk}/rotate-secret/": {},
        "/listening/uploads/": {"file": SimpleUploadedFile("x.csv", CSV)},
        f"/listening/uploads/{job.pk}/": {"external_id": "id", "text": "body", "posted_at": "created"},
    }
    for path, data in writes.items():
        assert client.post(path, data).status_code == 403, path
    with tenant_context(world.a):
        assert list(Query.objects.values_list("name", "expression")) == [("Acme", "acme")]
        unchanged = Source.objects.get(pk=src.pk)
        assert unchanged.secret == "s3cret" and unchanged.is_active
        assert UploadJob.objects.get().status == UploadStatus.MAPPING


def test_anonymous_visitors_are_sent_to_sign_in_and_strangers_see_nothing(world):
    assert Client(HTTP_HOST="tenant-a.localhost").get("/listening/queries/").status_code == 302
    stranger = Client(HTTP_HOST="tenant-a.localhost")
    stranger.force_login(world.users["b_owner"])
    for path in ("/listening/", "/listening/queries/", "/listening/sources/", "/listening/uploads/"):
        assert stranger.get(path).status_code == 404, path


def test_another_tenants_objects_answer_404(world):
    with tenant_context(world.b):
        b_source = Source.objects.create(name="B feed", kind=SourceKind.WEBHOOK, secret="b-secret")
        b_mention = Mention.objects.create(
            source=b_source, external_id="b1", text="B only", posted_at=timezone.now()
        )
        b_query = Query.objects.create(name="B query", expression="b")
        b_job = upload_create(file=SimpleUploadedFile("b.csv", CSV), created_by_id=None).job
    client = on(world, "a_owner")
    for path in (
        f"/listening/mentions/{b_mention.pk}/similar/",
        f"/listening/queries/{b_query.pk}/",
        f"/listening/sources/{b_source.pk}/",
        f"/listening/uploads/{b_job.pk}/",
        f"/listening/uploads/{b_job.pk}/progress/",
    ):
        assert client.get(path).status_code == 404, path
    for path in (
        f"/listening/queries/{b_query.pk}/delete/",
        f"/listening/sources/{b_source.pk}/rotate-secret/",
        f"/listening/sources/{b_source.pk}/pause/",
    ):
        assert client.post(path).status_code == 404, path
    with tenant_context(world.b):
        assert Query.objects.filter(pk=b_query.pk).exists()
        assert Source.objects.get(pk=b_source.pk).secret == "b-secret"
    assert "B only" not in client.get("/listening/").content.decode()


# The stream -----------------------------------------------------------------------------------------


def test_the_stream_says_how_to_start_when_there_is_no_source(world):
    page = on(world, "a_viewer").get("/listening/").content.decode()
    assert "No sources yet" in page and "Connect a source" in page and 'href="/listening/sources/"' in page


def test_the_stream_says_when_nothing_matches_and_offers_to_clear(world):
    src = source(world)
    client = on(world, "a_viewer")
    assert "No mentions yet" in client.get("/listening/").content.decode()
    mention(world, src, "Acme is down", sentiment="negative")
    page = client.get("/listening/", {"sentiment": "positive"}).content.decode()
    assert "No mentions match these filters" in page and "Clear the filters" in page
    assert "Acme is down" not in page


def test_mention_cards_show_what_a_communications_team_needs(world):
    src = source(world, name="Status feed")
    q1, q2 = query(world, "Acme brand", "acme"), query(world, "Outages", "down")
    with tenant_context(world.a):
        story = Story.objects.create(
            key=1, first_seen_at=timezone.now(), last_seen_at=timezone.now(), mention_count=3
        )
    m = mention(
        world,
        src,
        "Acme is down again",
        author_name="Dana Scully",
        author_handle="dana",
        author_followers=12_345,
        sentiment="negative",
        sentiment_score=0.87,
        lang="en",
        url="https://social.example/@dana/1",
        story=story,
    )
    with tenant_context(world.a):
        QueryMatch.objects.bulk_create(
            [QueryMatch(query=q, mention=m, posted_at=m.posted_at) for q in (q1, q2)]
        )
    mention(
        world, src, "Not analysed yet", enriched_at=None, sentiment="", lang="", url="javascript:alert(1)"
    )
    page = on(world, "a_viewer").get("/listening/").content.decode()
    for words in (
        "Dana Scully",
        "@dana",
        "12.3k followers",
        "Status feed",
        "RSS or Atom feed",
        "English",
        "Negative",
        "87%",
        "shared 3 times",
        f'href="/listening/?query={q1.pk}">Acme brand</a>',
        f'href="/listening/?query={q2.pk}">Outages</a>',
        'href="https://social.example/@dana/1"',
        f'href="/listening/mentions/{m.pk}/similar/"',
        "analysing…",
    ):
        assert words in page, words
    assert "javascript:" not in page


def _ids_on(page: str) -> list[str]:
    return re.findall(r'<article class="mention" id="mention-(\d+)"', page)


def test_filters_narrow_the_stream(world):
    feed, push = source(world, "Feed"), source(world, "Push", kind=SourceKind.WEBHOOK)
    acme = query(world, "Acme", "acme")
    a = mention(world, feed, "Acme negative English", sentiment="negative", lang="en")
    b = mention(world, feed, "Acme positive German", sentiment="positive", lang="de", minutes_ago=180)
    c = mention(
        world, push, "Other positive English", sentiment="positive", lang="en", minutes_ago=3 * 24 * 60
    )
    with tenant_context(world.a):
        QueryMatch.objects.bulk_create(
            [QueryMatch(query=acme, mention=m, posted_at=m.posted_at) for m in (a, b)]
        )
    client = on(world, "a_viewer")

    def shown(**params: str) -> list[str]:
        return _ids_on(client.get("/listening/", params).content.decode())

    assert shown() == [str(a.pk), str(b.pk), str(c.pk)]
    assert shown(sentiment="positive") == [str(b.pk), str(c.pk)]
    assert shown(lang="de") == [str(b.pk)]
    assert shown(source=str(push.pk)) == [str(c.pk)]
    assert shown(query=str(acme.pk)) == [str(a.pk), str(b.pk)]
    assert shown(range="1h") == [str(a.pk)]
    assert shown(range="24h") == [str(a.pk), str(b.pk)]
    assert shown(range="7d", sentiment="positive", lang="en") == [str(c.pk)]
    since = (timezone.localtime() - timedelta(days=4)).strftime("%Y-%m-%dT%H:%M")
    until = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert shown(range="custom", since=since, until=until) == [str(b.pk), str(c.pk)]
    # A filter that makes no sense is reported and filters nothing, rather than failing the page.
    bad = client.get("/listening/", {"range": "custom", "since": until, "until": since}).content.decode()
    assert "The end must be after the start." in bad
    assert client.get("/listening/", {"source": "999999"}).status_code == 200


def test_search_finds_words_of_the_text(world):
    src = source(world)
    mention(world, src, "The Acme outage is over, services restored")
    mention(world, src, "Lovely weather for a picnic")
    with tenant_context(world.a):
        Mention.objects.update(search_vector=SearchVector("text", config="english"))
    page = on(world, "a_viewer").get("/listening/", {"q": "outages"}).content.decode()
    assert texts(page) == ["The Acme outage is over, services restored"]


def test_load_more_continues_after_the_last_mention_shown(world):
    src = source(world)
    same_time = timezone.now() - timedelta(minutes=1)
    for i in range(30):
        # Ten share one timestamp: the id breaks the tie, so none is skipped or repeated.
        when = same_time if i < 10 else same_time - timedelta(minutes=i)
        with tenant_context(world.a):
            Mention.objects.create(
                source=src,
                external_id=f"p{i}",
                text=f"Mention {i}",
                posted_at=when,
                enriched_at=timezone.now(),
            )
    client = on(world, "a_viewer")
    first = client.get("/listening/", {"sentiment": ""}).content.decode()
    assert len(_ids_on(first)) == 25
    more = found(r'<a class="btn" href="/listening/\?([^"]+)"', first).replace("&amp;", "&")
    assert "cursor=" in more and "sentiment=" in more, "the next page keeps the filters"
    # htmx asks for the next cards only (and the next button, out of band).
    fragment = client.get(f"/listening/?{more}", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and 'id="load-more" class="load-more" hx-swap-oob="true"' in fragment
    assert "Load more" not in fragment
    rest = _ids_on(fragment)
    assert len(rest) == 5 and not set(rest) & set(_ids_on(first))
    with tenant_context(world.a):
        assert {int(i) for i in _ids_on(first) + rest} == set(Mention.objects.values_list("pk", flat=True))
    # Without JavaScript the same link is a whole page of older mentions.
    whole = client.get(f"/listening/?{more}").content.decode()
    assert "<html" in whole and _ids_on(whole) == rest and "Back to the newest" in whole


def test_htmx_filter_requests_get_the_results_only_and_caches_keep_them_apart(world):
    src = source(world)
    mention(world, src, "Acme is down", sentiment="negative")
    client = on(world, "a_viewer")
    fragment = client.get("/listening/", {"sentiment": "negative"}, HTTP_HX_REQUEST="true")
    assert "<html" not in fragment.content.decode() and "Acme is down" in fragment.content.decode()
    assert "HX-Request" in fragment["Vary"]
    # The address htmx pushes keeps only the filters in use.
    empty = client.get("/listening/", {"q": "", "sentiment": "negative", "lang": ""}, HTTP_HX_REQUEST="true")
    assert empty["HX-Push-Url"] == "/listening/?sentiment=negative"
    # A history restore (back button, htmx cache miss) gets the whole page.
    restore = client.get(
        "/listening/",
        {"sentiment": "negative"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )
    assert "<html" in restore.content.decode()


def test_the_stream_costs_the_same_queries_for_3_or_20_mentions(world):
    src = source(world)
    q = query(world)
    client = on(world, "a_viewer")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/listening/").status_code == 200
        return len(queries)

    count()  # the first request fills caches (host routing, the session's user)
    for i in range(3):
        m = mention(world, src, f"Acme {i}")
        with tenant_context(world.a):
            QueryMatch.objects.create(query=q, mention=m, posted_at=m.posted_at)
    few = count()
    for i in range(17):
        m = mention(world, src, f"Acme more {i}")
        with tenant_context(world.a):
            QueryMatch.objects.create(query=q, mention=m, posted_at=m.posted_at)
    assert count() == few


def test_more_like_this_lists_nearest_mentions_with_similarity(world):
    src = source(world)

    def vector(*head: float) -> list[float]:
        return [*head, *([0.0] * (EMBEDDING_DIM - len(head)))]

    origin = mention(world, src, "Acme cloud is down", embedding=vector(1.0, 0.0))
    mention(world, src, "Acme servers unreachable", embedding=vector(0.9, 0.1))
    mention(world, src, "Weather is nice", embedding=vector(0.0, 1.0))
    mention(world, src, "Still being analysed", enriched_at=None)
    page = on(world, "a_viewer").get(f"/listening/mentions/{origin.pk}/similar/").content.decode()
    similar = page.split('data-testid="similar-list"')[1]
    assert texts(similar) == ["Acme servers unreachable", "Weather is nice"]
    assert re.findall(r"(\d+)% similar", similar) == ["99", "0"]
    pending = mention(world, src, "New one", enriched_at=None)
    assert (
        "still being analysed"
        in on(world, "a_viewer").get(f"/listening/mentions/{pending.pk}/similar/").content.decode()
    )


# Queries ------------------------------------------------------------------------------------------


def test_analysts_create_edit_and_delete_queries(world):
    client = on(world, "a_analyst")
    page = client.get("/listening/queries/").content.decode()
    assert 'hx-post="/listening/queries/preview/"' in page and "NEAR/5" in page and "author:" in page
    created = client.post(
        "/listening/queries/",
        {
            "name": "Acme brand",
            "kind": "brand",
            "expression": '(acme OR "acme cloud") AND down*',
            "is_active": "on",
        },
    )
    assert created.status_code == 302
    with tenant_context(world.a):
        q = Query.objects.get(name="Acme brand")
        assert q.is_active and q.backfill_status == "queued"
    listed = client.get("/listening/queries/").content.decode()
    assert "Acme brand" in listed and "queued" in listed and 'hx-trigger="every 2s"' in listed

    bad = client.post(
        "/listening/queries/", {"name": "Broken", "kind": "brand", "expression": "acme AND (down"}
    )
    assert bad.status_code == 200 and "at character" in bad.content.decode()
    taken = client.post("/listening/queries/", {"name": "Acme brand", "kind": "brand", "expression": "acme"})
    assert "exists already" in taken.content.decode()

    edit = client.get(f"/listening/queries/{q.pk}/").content.decode()
    assert "Save query" in edit and "acme cloud" in edit
    saved = client.post(
        f"/listening/queries/{q.pk}/", {"name": "Acme", "kind": "product", "expression": "acme"}, follow=True
    )
    assert "re-tagged" in saved.content.decode()
    with tenant_context(world.a):
        q.refresh_from_db()
        assert (q.name, q.kind, q.expression, q.is_active) == ("Acme", "product", "acme", False)

    assert client.post(f"/listening/queries/{q.pk}/delete/").status_code == 302
    with tenant_context(world.a):
        assert not Query.objects.exists()


def test_query_preview_counts_the_recent_mentions_it_matches(world):
    src = source(world)
    mention(world, src, "Acme is down")
    mention(world, src, "Acme rocks")
    mention(world, src, "Globex is fine")
    mention(world, src, "Acme, ten days ago", minutes_ago=10 * 24 * 60)
    # A read, as in the API: viewers get the count too.
    for user in ("a_analyst", "a_viewer"):
        response = on(world, user).post("/listening/queries/preview/", {"expression": "acme"})
        assert response.status_code == 200
        text = re.sub(r"<[^>]+>", "", response.content.decode())
        assert "Matches 2 of the last 3 mentions (7 days)" in text, text
    idle = on(world, "a_analyst").post("/listening/queries/preview/", {"expression": "  "}).content.decode()
    assert "Type an expression" in idle


def test_query_preview_shows_the_syntax_error_with_a_caret_under_it(world):
    response = on(world, "a_analyst").post("/listening/queries/preview/", {"expression": "acme AND (outage"})
    page = response.content.decode()
    assert response.status_code == 200 and "at character 17" in page
    caret = found(r'<pre class="caret"[^>]*>(.*?)</pre>', page)
    line, marker = caret.split("\n")
    assert line == "acme AND (outage" and marker == " " * 16 + "^"


# Sources ------------------------------------------------------------------------------------------


def test_a_webhook_secret_is_shown_once_and_rotated(world):
    client = on(world, "a_analyst")
    created = client.post("/listening/sources/", {"kind": "webhook", "webhook-name": "Status pushes"})
    assert created.status_code == 302
    with tenant_context(world.a):
        src = Source.objects.get(name="Status pushes")
    assert created["Location"] == f"/listening/sources/{src.pk}/"
    page = client.get(created["Location"]).content.decode()
    assert 'data-testid="new-secret"' in page and f'value="{src.secret}"' in page
    assert f"http://tenant-a.localhost/api/v1/hooks/sources/{src.pk}" in page
    for header in ("X-Candor-Timestamp", "X-Candor-Signature", "X-Candor-Delivery", "HMAC-SHA256"):
        assert header in page
    again = client.get(created["Location"]).content.decode()
    assert src.secret not in again and 'data-testid="new-secret"' not in again

    rotated = client.post(f"/listening/sources/{src.pk}/rotate-secret/")
    assert rotated.status_code == 302
    with tenant_context(world.a):
        fresh = Source.objects.get(pk=src.pk)
    assert fresh.secret != src.secret and fresh.previous_secret == src.secret
    page = client.get(rotated["Location"]).content.decode()
    assert fresh.secret in page and src.secret not in page
    assert fresh.secret not in client.get(rotated["Location"]).content.decode()


def test_feeds_mastodon_and_bulk_sources_are_added_and_bad_ones_explained(world):
    client = on(world, "a_admin")
    refused = client.post(
        "/listening/sources/", {"kind": "rss", "rss-name": "Local", "rss-url": "http://127.0.0.1/feed"}
    )
    assert refused.status_code == 200 and "url:" in refused.content.decode()
    feed = client.post(
        "/listening/sources/",
        {"kind": "rss", "rss-name": "Status", "rss-url": "https://93.184.216.34/feed.atom"},
    )
    assert feed.status_code == 302
    neither = client.post(
        "/listening/sources/", {"kind": "mastodon", "mastodon-name": "M", "mastodon-instance": "x.y"}
    )
    assert "hashtag or an account id" in neither.content.decode()
    tagged = client.post(
        "/listening/sources/",
        {
            "kind": "mastodon",
            "mastodon-name": "Toots",
            "mastodon-instance": "93.184.216.34",
            "mastodon-tag": "#acme",
        },
    )
    assert tagged.status_code == 302
    bulk = client.post("/listening/sources/", {"kind": "api", "api-name": "Partner"})
    with tenant_context(world.a):
        kinds = dict(Source.objects.values_list("name", "kind"))
        api_source = Source.objects.get(name="Partner")
        assert Source.objects.get(name="Toots").config == {"instance": "93.184.216.34", "tag": "acme"}
    assert kinds == {"Status": "rss", "Toots": "mastodon", "Partner": "api"}
    help_page = client.get(bulk["Location"]).content.decode()
    assert f"POST /api/v1/sources/{api_source.pk}/mentions" in help_page and "curl -X POST" in help_page
    assert 'data-testid="new-secret"' not in help_page
    listed = client.get("/listening/sources/").content.decode()
    assert "https://93.184.216.34/feed.atom" in listed and "#acme" in listed
    duplicate = client.post("/listening/sources/", {"kind": "api", "api-name": "Partner"})
    assert "exists already" in duplicate.content.decode()


def test_sources_are_paused_and_resumed_and_their_errors_shown(world):
    src = source(
        world, last_error="HTTP 503 from the feed", consecutive_errors=3, last_polled_at=timezone.now()
    )
    client = on(world, "a_analyst")
    listed = client.get("/listening/sources/").content.decode()
    assert "HTTP 503 from the feed" in listed and "3 errors in a row" in listed and "failing" in listed
    client.post(f"/listening/sources/{src.pk}/pause/")
    with tenant_context(world.a):
        assert not Source.objects.get(pk=src.pk).is_active
    assert "paused" in client.get("/listening/sources/").content.decode()
    client.post(f"/listening/sources/{src.pk}/resume/")
    with tenant_context(world.a):
        resumed = Source.objects.get(pk=src.pk)
        assert resumed.is_active and resumed.consecutive_errors == 0
    assert client.get(f"/listening/sources/{src.pk}/pause/").status_code == 405


# Uploads ------------------------------------------------------------------------------------------


def test_an_upload_is_mapped_started_and_followed(world):
    client = on(world, "a_analyst")
    uploaded = client.post("/listening/uploads/", {"file": SimpleUploadedFile("export.csv", CSV)})
    assert uploaded.status_code == 302
    with tenant_context(world.a):
        job = UploadJob.objects.get()
    assert uploaded["Location"] == f"/listening/uploads/{job.pk}/"
    page = client.get(uploaded["Location"]).content.decode()
    for column in ("id", "body", "created", "user", "followers"):
        assert f'<th scope="col">{column}</th>' in page
    assert "Acme cloud is down again" in page
    for field, column in job.mapping.items():  # the suggested mapping is preselected
        select = found(rf'<select name="{field}"[^>]*>(.*?)</select>', page)
        assert f'<option value="{column}" selected>' in select, field

    missing = client.post(uploaded["Location"], {"external_id": "id", "text": "body"})
    assert missing.status_code == 200 and "This field is required" in missing.content.decode()
    started = client.post(
        uploaded["Location"],
        {"external_id": "id", "text": "body", "posted_at": "created", "author_handle": "user"},
    )
    assert started.status_code == 302
    with tenant_context(world.a):
        job.refresh_from_db()
    assert job.status == UploadStatus.QUEUED
    assert job.mapping == {
        "external_id": "id",
        "text": "body",
        "posted_at": "created",
        "author_handle": "user",
    }
    progress = client.get(f"/listening/uploads/{job.pk}/progress/").content.decode()
    assert 'hx-trigger="every 1s"' in progress and "<html" not in progress

    with tenant_context(world.a):
        UploadJob.objects.filter(pk=job.pk).update(
            status=UploadStatus.DONE, rows_done=3, rows_total=3, stored=1, duplicates=1, rejected=1
        )
        job.refresh_from_db()
        job.rejected_report.save("rejected.csv", ContentFile(b"row,field,message\n3,text,missing\n"))
    done = client.get(f"/listening/uploads/{job.pk}/progress/").content.decode()
    assert "hx-trigger" not in done, "polling stops once the import is over"
    assert f'href="/api/v1/uploads/{job.pk}/rejected"' in done
    for testid, value in (("rows-done", 3), ("stored", 1), ("duplicates", 1), ("rejected", 1)):
        assert f'data-testid="{testid}">{value}<' in done
    report = client.get(f"/api/v1/uploads/{job.pk}/rejected")
    assert report.status_code == 200 and b"missing" in report.getvalue()


def test_a_file_that_is_not_mentions_is_refused_with_a_reason(world):
    response = on(world, "a_analyst").post(
        "/listening/uploads/", {"file": SimpleUploadedFile("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00binary")}
    )
    assert response.status_code == 200 and 'class="error"' in response.content.decode()
    with tenant_context(world.a):
        assert not UploadJob.objects.exists()


@pytest.mark.parametrize(
    "path", ["/listening/", "/listening/queries/", "/listening/sources/", "/listening/uploads/"]
)
def test_odd_requests_never_answer_500(world, path):
    client = on(world, "a_analyst")
    for method in ("get", "post", "put", "delete"):
        for cursor in ("x", "99999999999999999999.1", "-99999999999999999999.1"):
            response = getattr(client, method)(path, {"cursor": cursor, "range": "nonsense"})
            assert response.status_code < 500, (method, cursor)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the recipe uses openssl")
def test_the_webhook_pages_shell_recipe_sends_a_delivery_candor_accepts(world):
    """Run the page's own shell recipe, with curl replaced by a stand-in that prints its
    arguments, and check what it would send with the webhook's verifier and parser."""
    src = source(world, kind=SourceKind.WEBHOOK, name="Push", secret="a-webhook-secret")
    page = on(world, "a_analyst").get(f"/listening/sources/{src.pk}/").content.decode()
    recipe = html.unescape(found(r'<pre class="code-sample">(.*?)</pre>', page))
    recipe = recipe.replace("SECRET='the signing secret'", "SECRET='a-webhook-secret'")
    script = "curl() { printf '%s\\n' \"$@\"; }\n" + recipe
    sent = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    args = sent.splitlines()
    assert args[:3] == ["-X", "POST", f"http://tenant-a.localhost/api/v1/hooks/sources/{src.pk}"]
    headers = dict(args[i + 1].split(": ", 1) for i, arg in enumerate(args) if arg == "-H")
    body = args[args.index("--data-binary") + 1].encode()
    webhook.verify(headers=headers, body=body, secrets=[b"a-webhook-secret"], now=time.time())
    mentions, errors = webhook.parse_payload(body)
    assert [m.external_id for m in mentions] == ["post-123"] and not errors
