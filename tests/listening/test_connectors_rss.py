"""RSS and Atom: recorded documents, conditional GETs against a local server, hostile feeds."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from listening.connectors import rss
from listening.connectors.rss import NotAFeed, parse_feed
from listening.connectors.safe_http import UnsafeURL, UpstreamStatusError
from tests.listening.fixtures.httpd import Handler, LocalServer, send, serve

FIXTURES = Path(__file__).parent / "fixtures"
RSS = (FIXTURES / "rss_feed.xml").read_bytes()
ATOM = (FIXTURES / "atom_feed.xml").read_bytes()
FETCHED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def parse(body: bytes, content_type: str = "application/rss+xml") -> Any:
    return parse_feed(
        body, content_type=content_type, base_url="https://news.example/feed", fetched_at=FETCHED
    )


def test_rss_entries() -> None:
    mentions = parse(RSS)
    assert len(mentions) == 4  # the entry with neither title nor text is left out
    outage, response, letter, future = mentions

    assert outage.external_id == "tag:news.example,2024:outage-1"  # the guid
    assert outage.text == (
        "Acme Cloud outage hits EU customers\n\n"
        "Customers report errors & timeouts.\n\n"
        "Acme says a fix is coming."
    )
    assert outage.posted_at == datetime(2024, 5, 1, 9, 15, tzinfo=UTC)
    assert outage.author_name == "Dana Reporter"
    assert outage.url == "https://news.example/acme/outage"
    assert outage.lang_hint == "en"
    assert outage.raw["feed_title"] == "Acme Watch"
    assert outage.raw["tags"] == ["outage", "cloud"]

    assert response.external_id == "https://news.example/acme/response"  # no guid: the link
    assert response.text == "Acme responds to criticism\n\nThe full statement from Acme\u2019s CEO."
    assert response.author_name == "Lee Columnist"

    expected = hashlib.sha256(b"Reader letter: Acme support was great\x1f").hexdigest()
    assert letter.external_id == f"sha256:{expected}"  # no guid, no link: title and date
    assert letter.posted_at == FETCHED  # no date: the fetch time
    assert letter.url == ""

    assert future.posted_at == FETCHED  # a date in 2100 is not believed


def test_atom_entries() -> None:
    first, second = parse(ATOM, "application/atom+xml")
    assert first.external_id == "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a"
    assert first.text == "Stellungnahme zur St\u00f6rung\n\nWir entschuldigen uns f\u00fcr die St\u00f6rung."
    assert first.posted_at == datetime(2024, 5, 1, 7, 45, tzinfo=UTC)  # published wins over updated
    assert (first.author_name, first.lang_hint) == ("Acme Kommunikation", "de")
    assert second.posted_at == datetime(2024, 4, 30, 18, 0, tzinfo=UTC)  # only updated
    assert second.text == "Only updated\n\nPlain summary <not a tag>"  # text, not HTML
    assert second.url == "https://news.example/2024/05/relative"  # resolved against the feed URL


def test_every_posted_at_is_aware() -> None:
    for mention in parse(RSS) + parse(ATOM):
        assert mention.posted_at.tzinfo is not None


def test_long_ids_are_hashed_to_fit() -> None:
    long_guid = "https://news.example/" + "a" * 300
    body = RSS.replace(b"tag:news.example,2024:outage-1", long_guid.encode())
    outage = parse(body)[0]
    assert outage.external_id == "sha256:" + hashlib.sha256(long_guid.encode()).hexdigest()


def test_bozo_feed_with_entries_is_accepted() -> None:
    broken = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Broken & unescaped</title>
    <item><title>Still readable</title><guid>b-1</guid><description>Text</description></item>
    </channel>"""  # an unescaped & and no closing </rss>
    [mention] = parse(broken)
    assert mention.external_id == "b-1"


@pytest.mark.parametrize(
    "body",
    [
        b"<!doctype html><html><head><title>Login</title></head><body><p>Sign in</p></body></html>",
        b'{"items": []}',
        b"",
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>cut off in the mid',
    ],
)
def test_not_a_feed(body: bytes) -> None:
    with pytest.raises(NotAFeed):
        parse(body, "text/html")


def test_a_valid_empty_feed_is_not_an_error() -> None:
    assert (
        parse(b'<?xml version="1.0"?><rss version="2.0"><channel><title>Quiet</title></channel></rss>') == []
    )


def test_external_entities_are_not_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-VALUE")
    body = f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>
<rss version="2.0"><channel><title>x</title>
<item><title>Entity: &xxe;</title><guid>x-1</guid></item></channel></rss>""".encode()
    for mention in parse(body):
        assert "TOP-SECRET" not in mention.text


def test_a_body_naming_a_local_file_is_not_read(tmp_path: Path) -> None:
    """feedparser opens a bytes argument as a file name: the body must go in as a stream."""
    local = tmp_path / "local-feed.xml"
    local.write_bytes(RSS)
    with pytest.raises(NotAFeed):
        parse(str(local).encode())


# --- polling ----------------------------------------------------------------------------------------

ETAG = '"v1-abc"'
LAST_MODIFIED = "Wed, 01 May 2024 10:00:00 GMT"


def _conditional(handler: Handler) -> None:
    if handler.headers.get("If-None-Match") == ETAG:
        send(handler, 304, headers={"ETag": ETAG})
    else:
        send(
            handler,
            200,
            RSS,
            {"Content-Type": "application/rss+xml", "ETag": ETAG, "Last-Modified": LAST_MODIFIED},
        )


@pytest.fixture
def feed_server(settings: Any) -> Iterator[LocalServer]:
    settings.LISTENING_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    routes = {
        "/feed": _conditional,
        "/error": lambda h: send(h, 503, b"busy"),
        "/gone": lambda h: send(h, 404, b"no"),
        "/html": lambda h: send(h, 200, b"<html><body>hi</body></html>", {"Content-Type": "text/html"}),
    }
    with serve(routes) as server:
        settings.LISTENING_FETCH_ALLOWED_PORTS = [server.port]
        yield server


def test_poll_then_conditional_poll(feed_server: LocalServer) -> None:
    first = rss.poll(feed_server.url("/feed"), now=FETCHED)
    assert (first.not_modified, first.etag, first.last_modified) == (False, ETAG, LAST_MODIFIED)
    assert len(first.mentions) == 4
    assert "if-none-match" not in feed_server.seen[0].headers

    second = rss.poll(feed_server.url("/feed"), etag=first.etag, last_modified=first.last_modified)
    assert feed_server.seen[1].headers["if-none-match"] == ETAG
    assert feed_server.seen[1].headers["if-modified-since"] == LAST_MODIFIED
    assert (second.not_modified, second.mentions, second.etag, second.last_modified) == (
        True,
        [],
        ETAG,
        LAST_MODIFIED,
    )


def test_stored_validators_that_cannot_be_sent_are_dropped(feed_server: LocalServer) -> None:
    result = rss.poll(feed_server.url("/feed"), etag='"x"\r\nX-Injected: 1', last_modified="\x00")
    assert not result.not_modified
    assert "x-injected" not in feed_server.seen[0].headers
    assert "if-modified-since" not in feed_server.seen[0].headers


def test_poll_errors(feed_server: LocalServer) -> None:
    with pytest.raises(UpstreamStatusError) as caught:
        rss.poll(feed_server.url("/error"))
    assert (caught.value.status, caught.value.retryable) == (503, True)
    with pytest.raises(UpstreamStatusError) as caught:
        rss.poll(feed_server.url("/gone"))
    assert (caught.value.status, caught.value.retryable) == (404, False)
    with pytest.raises(NotAFeed):
        rss.poll(feed_server.url("/html"))


def test_poll_goes_through_the_ssrf_checks() -> None:
    with pytest.raises(UnsafeURL):
        rss.poll("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(UnsafeURL):
        rss.poll("file:///etc/passwd")
