"""Fuzzing (RELIABILITY 22): on arbitrary input, the parsers raise nothing but their documented
errors, return storable values, and finish in bounded time (hypothesis' deadline per example)."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from listening.connectors import mastodon, safe_http
from listening.connectors.base import ConnectorError, MentionIn
from listening.connectors.bulk import parse_bulk
from listening.connectors.items import ItemError, PayloadRejected
from listening.connectors.rss import NotAFeed, parse_feed
from listening.connectors.text import html_to_text
from listening.connectors.upload import DELIMITERS, read_rows, sniff
from listening.connectors.webhook import WebhookRejected, parse_payload, sign, verify

FUZZ = settings(
    max_examples=300,
    deadline=timedelta(seconds=2),
    database=None,  # no .hypothesis folder in the repository
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NOW = 1_714_555_800.0

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)
field_values = st.one_of(
    json_values,
    st.sampled_from(
        ["2024-05-01T09:00:00Z", "1714554000", "https://example.com/x", "en", "pt-BR", "=1+1", "\x00"]
    ),
    st.integers(min_value=0, max_value=2_000_000_000),
)
items = st.dictionaries(
    st.sampled_from(
        [
            "external_id",
            "text",
            "posted_at",
            "author",
            "author_handle",
            "author_name",
            "author_followers",
            "url",
            "lang",
            "x",
        ]
    ),
    field_values,
)


def assert_storable(mention: MentionIn) -> None:
    """What ingest stores must fit the database: aware dates, bounded non-empty text, UTF-8
    encodable strings without NUL, JSON-serialisable raw."""
    assert mention.posted_at.tzinfo is not None
    assert 0 < len(mention.text) <= 40_000 and 0 < len(mention.external_id) <= 200
    for value in (mention.external_id, mention.text, mention.author_handle, mention.author_name, mention.url):
        assert "\x00" not in value
        value.encode("utf-8")
    dumped = json.dumps(mention.raw, allow_nan=False)
    assert "\\u0000" not in dumped
    dumped.encode("utf-8")


def check_items(valid: list[Any], errors: list[ItemError]) -> None:
    for entry in valid:
        assert_storable(entry[1] if isinstance(entry, tuple) else entry)
    assert all(isinstance(error, ItemError) for error in errors)


@FUZZ
@given(
    body=st.binary(max_size=2000), content_type=st.sampled_from(["application/json", "application/x-ndjson"])
)
def test_bulk_on_arbitrary_bytes(body: bytes, content_type: str) -> None:
    with contextlib.suppress(PayloadRejected):
        check_items(*parse_bulk(body, content_type, now=NOW))


@FUZZ
@given(documents=st.lists(items | json_values, max_size=20), ndjson=st.booleans())
def test_bulk_on_arbitrary_json(documents: list[Any], ndjson: bool) -> None:
    if ndjson:
        body, content_type = b"\n".join(json.dumps(d).encode() for d in documents), "application/x-ndjson"
    else:
        body, content_type = json.dumps(documents).encode(), "application/json"
    valid, errors = parse_bulk(body, content_type, now=NOW)
    check_items(valid, errors)
    # Every item is accounted for, at its own index: either valid or with its errors.
    valid_at = {index for index, _ in valid}
    failed_at = {error.index for error in errors}
    assert not valid_at & failed_at
    assert valid_at | failed_at == set(range(len(documents)))


@FUZZ
@given(
    body=st.binary(max_size=2000) | st.builds(lambda v: json.dumps(v).encode(), st.lists(items, max_size=5))
)
def test_webhook_payload(body: bytes) -> None:
    with contextlib.suppress(PayloadRejected):
        check_items(*parse_payload(body, now=NOW))


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(
            ["X-Candor-Timestamp", "X-Candor-Signature", "X-Candor-Delivery", "x-candor-signature", "Other"]
        ),
        st.text(max_size=200),
    ),
    body=st.binary(max_size=500),
    secrets=st.lists(st.binary(max_size=40), max_size=3),
)
def test_webhook_verify(headers: dict[str, str], body: bytes, secrets: list[bytes]) -> None:
    try:
        verify(headers=headers, body=body, secrets=secrets, now=NOW)
    except WebhookRejected as exc:
        assert exc.status in (400, 401)


@FUZZ
@given(body=st.binary(max_size=500), secret=st.binary(min_size=1, max_size=40), skew=st.integers(-300, 300))
def test_webhook_roundtrip(body: bytes, secret: bytes, skew: int) -> None:
    timestamp = int(NOW) + skew
    headers = {
        "X-Candor-Timestamp": str(timestamp),
        "X-Candor-Delivery": "d-1",
        "X-Candor-Signature": sign(secret, timestamp, body),
    }
    verify(headers=headers, body=body, secrets=[secret], now=NOW)
    tampered = body + b" "
    with pytest.raises(WebhookRejected):
        verify(headers=headers, body=tampered, secrets=[secret], now=NOW)


csv_like = st.lists(
    st.sampled_from(
        [
            b"text",
            b"date",
            b",",
            b";",
            b"\t",
            b'"',
            b'""',
            b"\n",
            b"\r\n",
            b"\xff",
            b"\x00",
            b"=1+1",
            b"2024-05-01T09:00:00Z",
            b"1714554000",
            b"\xef\xbb\xbf",
            b"a" * 50,
        ]
    ),
    max_size=60,
).map(b"".join)
ndjson_like = st.lists(
    st.dictionaries(st.sampled_from(["text", "date", "x"]), field_values).map(
        lambda d: json.dumps(d).encode()
    ),
    max_size=10,
).map(b"\n".join)


@FUZZ
@given(
    data=st.binary(max_size=3000) | csv_like | csv_like.map(lambda rows: b"text,date\n" + rows) | ndjson_like,
    fmt=st.sampled_from(["csv", "ndjson"]),
    delimiter=st.sampled_from(DELIMITERS),
)
def test_upload_reader(data: bytes, fmt: str, delimiter: str) -> None:
    mapping = {"text": "text", "posted_at": "date"}
    try:
        iterator = read_rows(io.BytesIO(data), fmt, mapping, delimiter=delimiter, now=NOW)
    except PayloadRejected:
        return
    for number, mention, errors in iterator:  # rows never raise
        assert number >= 1
        assert (mention is None) == bool(errors)
        if mention is not None:
            assert_storable(mention)


@FUZZ
@given(data=st.binary(max_size=3000) | csv_like)
def test_upload_sniff(data: bytes) -> None:
    try:
        preview = sniff(data)
    except PayloadRejected:
        return
    assert preview.format in ("csv", "ndjson")
    assert len(set(preview.columns)) == len(preview.columns)
    assert set(preview.suggested_mapping.values()) <= set(preview.columns)


@FUZZ
@given(
    html=st.text(max_size=2000)
    | st.lists(
        st.sampled_from(["<p>", "</p>", "<br>", "<script>", "&amp;", "&#0;", "<", "a", " "]), max_size=200
    ).map("".join)
)
def test_html_to_text(html: str) -> None:
    text = html_to_text(html)
    assert "\x00" not in text and len(text) <= 40_000
    text.encode("utf-8")


RSS_ITEM = (
    '<?xml version="1.0"?><rss version="2.0"><channel><item>'
    "<title>{0}</title><guid>{0}</guid><link>{0}</link><pubDate>{0}</pubDate><description>{0}</description>"
    "</item></channel></rss>"
)


@FUZZ
@given(body=st.binary(max_size=3000) | st.text(max_size=2000).map(lambda t: RSS_ITEM.format(t).encode()))
def test_feed_parser(body: bytes) -> None:
    try:
        mentions = parse_feed(
            body,
            content_type="application/rss+xml",
            base_url="https://f.example/rss",
            fetched_at=datetime.now(UTC),
        )
    except NotAFeed:
        return
    for mention in mentions:
        assert_storable(mention)


statuses = st.lists(
    st.fixed_dictionaries(
        {"id": st.one_of(st.integers(1, 10**19).map(str), json_values)},
        optional={
            "created_at": st.one_of(st.just("2024-05-01T09:00:00.000Z"), json_values),
            "content": st.one_of(st.just("<p>hi</p>"), json_values),
            "spoiler_text": json_values,
            "account": st.one_of(
                st.fixed_dictionaries(
                    {"acct": st.one_of(st.just("dana"), json_values)},
                    optional={"followers_count": json_values, "display_name": json_values},
                ),
                json_values,
            ),
            "reblog": json_values,
            "language": json_values,
            "url": json_values,
            "tags": json_values,
        },
    ),
    max_size=5,
)


@FUZZ
@given(page=statuses | json_values, cursor=st.none() | st.integers(0, 10**18).map(str))
def test_mastodon_on_arbitrary_pages(page: Any, cursor: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    body = json.dumps(page).encode()

    def fake_fetch(url: str, **kwargs: Any) -> safe_http.Response:
        return safe_http.Response(200, {}, body, url)

    with monkeypatch.context() as patch:
        patch.setattr(safe_http, "fetch", fake_fetch)
        try:
            result = mastodon.poll("social.example", tag="candor", cursor=cursor, max_pages=2, now=NOW)
        except ConnectorError:
            return
    for mention in result.mentions:
        assert_storable(mention)
    if cursor is not None and result.cursor is not None:
        assert int(result.cursor) >= int(cursor)


@FUZZ
@given(
    url=st.text(max_size=300)
    | st.builds(lambda h, p: f"http://{h}:{p}/", st.text(max_size=40), st.integers(-5, 70000))
)
def test_url_validation(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: Any, **kwargs: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "fuzzing never resolves")

    with monkeypatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", no_dns)
        with contextlib.suppress(safe_http.UnsafeURL):
            safe_http.check_url(url)  # only a public IP literal can pass: nothing resolves


@pytest.mark.parametrize(
    "attack",
    [
        b"[" * 1_000_000,
        b'{"a":' * 300_000,
        b"," * 2_000_000,
        b'"' * 2_000_000,
        b"\n" * 2_000_000,
        (b'{"external_id": "a", "text": "' + b"\\u0000" * 300_000 + b'", "posted_at": 1}'),
    ],
)
def test_pathological_bodies_finish_quickly(attack: bytes) -> None:
    started = time.monotonic()
    for call in (
        lambda: parse_bulk(attack, "application/json", now=NOW),
        lambda: parse_bulk(attack, "application/x-ndjson", now=NOW),
        lambda: parse_payload(attack, now=NOW),
        lambda: sniff(attack[:65536]),
        lambda: list(read_rows(io.BytesIO(attack), "csv", {"text": "text", "posted_at": "date"})),
        lambda: list(read_rows(io.BytesIO(attack), "ndjson", {"text": "text", "posted_at": "date"})),
    ):
        with contextlib.suppress(PayloadRejected):
            call()
    assert time.monotonic() - started < 10


# Bounded memory (RELIABILITY 15, 22): hostile bodies cost a bounded multiple of their size,
# measured with tracemalloc (the peak of Python allocations). The worst is JSON of many tiny items
# (about 25x: the decoder's own objects, before the item limit can refuse them); everything else
# stays near 2x. A megabyte keeps tracemalloc's tracing affordable; the ratio is what is checked.

MEMORY_BODY_BYTES = 1024 * 1024
MEMORY_ATTACKS = {
    "deep arrays": b"[" * MEMORY_BODY_BYTES,
    "deep objects": b'{"a":' * (MEMORY_BODY_BYTES // 5),
    "many tiny items": b"[" + b"{}," * (MEMORY_BODY_BYTES // 3 - 1) + b"{}]",
    "one huge string": b'[{"external_id": "a", "text": "' + b"x" * MEMORY_BODY_BYTES + b'", "posted_at": 1}]',
    "escaped NULs": b'[{"external_id": "a", "text": "' + b"\\u0000" * (MEMORY_BODY_BYTES // 6) + b'"}]',
    "an unclosed quoted cell": b'text,date\n"' + b"a" * MEMORY_BODY_BYTES,
}


def _peak_bytes(call: Any) -> int:
    tracemalloc.start()
    try:
        with contextlib.suppress(PayloadRejected, WebhookRejected):
            call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", list(MEMORY_ATTACKS))
def test_parsers_use_bounded_memory_on_hostile_bodies(name: str) -> None:
    attack = MEMORY_ATTACKS[name]
    mapping = {"text": "text", "posted_at": "date"}
    calls = {
        "bulk json": lambda: parse_bulk(attack, "application/json", now=NOW),
        "bulk ndjson": lambda: parse_bulk(attack, "application/x-ndjson", now=NOW),
        "webhook": lambda: parse_payload(attack, now=NOW),
        "upload csv": lambda: list(read_rows(io.BytesIO(attack), "csv", mapping, now=NOW)),
        "upload ndjson": lambda: list(read_rows(io.BytesIO(attack), "ndjson", mapping, now=NOW)),
    }
    for label, call in calls.items():
        peak = _peak_bytes(call)
        assert peak < 40 * len(attack), (
            f"{label} on {name}: {peak / 1e6:.0f} MB for {len(attack) / 1e6:.0f} MB"
        )


def test_signature_check_uses_bounded_memory_and_refuses_huge_headers() -> None:
    body = b"x" * MEMORY_BODY_BYTES
    headers = {
        "X-Candor-Timestamp": str(int(NOW)),
        "X-Candor-Delivery": "d" * 100_000,
        "X-Candor-Signature": ",".join(["v1=" + "0" * 64] * 10_000),
    }
    peak = _peak_bytes(lambda: verify(headers=headers, body=body, secrets=[b"k" * 64] * 3, now=NOW))
    assert peak < 4 * len(body)
    with pytest.raises(WebhookRejected):
        verify(headers=headers, body=body, secrets=[b"k" * 64], now=NOW)
