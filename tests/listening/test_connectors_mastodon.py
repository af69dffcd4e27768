"""Mastodon: recorded-format statuses served by a local HTTPS server that pages like Mastodon
(min_id, limit), cursor continuity, and validation of what the instance sends."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from listening.connectors import mastodon
from listening.connectors.base import ConnectorError
from listening.connectors.safe_http import UpstreamStatusError
from tests.listening.fixtures.httpd import Handler, LocalServer, Route, fake_dns, make_pki, send, serve

FIXTURES = Path(__file__).parent / "fixtures"
TIMELINE: list[dict[str, Any]] = json.loads((FIXTURES / "mastodon_tag_timeline.json").read_text())
NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC).timestamp()
TEMPLATE = next(s for s in TIMELINE if s["id"] == "112345678901234501")


@dataclass
class FakeInstance:
    """Mastodon's paging over a list of statuses: with min_id, the `limit` statuses just after
    it; without, the newest `limit`; always newest first."""

    statuses: list[dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(TIMELINE))
    override: Any = None  # a raw body to send instead (a misbehaving instance)
    status: int = 200

    def route(self, handler: Handler) -> None:
        if self.status != 200 or self.override is not None:
            send(handler, self.status, self.override or b"{}", {"Content-Type": "application/json"})
            return
        query = parse_qs(urlsplit(handler.path).query)
        limit = int(query["limit"][0])
        ordered = sorted(self.statuses, key=lambda s: int(str(s["id"])))
        if "min_id" in query:
            page = [s for s in ordered if int(str(s["id"])) > int(query["min_id"][0])][:limit]
        else:
            page = ordered[-limit:]
        send(handler, 200, json.dumps(page[::-1]).encode(), {"Content-Type": "application/json"})

    def add(self, count: int) -> list[str]:
        newest = max(int(str(s["id"])) for s in self.statuses)
        ids = [str(newest + 10 * (n + 1)) for n in range(count)]
        for status_id in ids:
            status = copy.deepcopy(TEMPLATE)
            status["id"] = status_id
            status["content"] = f"<p>status {status_id}</p>"
            self.statuses.append(status)
        return ids


@dataclass
class Env:
    instance: FakeInstance
    server: LocalServer

    @property
    def host(self) -> str:
        return f"social.example:{self.server.port}"

    def poll(self, **kwargs: Any) -> mastodon.MastodonPoll:
        kwargs.setdefault("tag", "candor")
        kwargs.setdefault("cursor", None)
        return mastodon.poll(self.host, now=NOW, **kwargs)

    def min_ids(self) -> list[str | None]:
        return [parse_qs(urlsplit(seen.path).query).get("min_id", [None])[0] for seen in self.server.seen]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def env(settings: Any, monkeypatch: pytest.MonkeyPatch, pki: Any) -> Iterator[Env]:
    fake_dns(monkeypatch, {"social.example": ["127.0.0.1"]})
    settings.LISTENING_FETCH_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.LISTENING_FETCH_CA_BUNDLE = str(pki.ca_file)
    instance = FakeInstance()
    routes: dict[str, Route] = {
        "/api/v1/timelines/tag/candor": instance.route,
        "/api/v1/accounts/109000000000000001/statuses": instance.route,
    }
    with serve(routes, tls=pki.server_context(("social.example",))) as server:
        settings.LISTENING_FETCH_ALLOWED_PORTS = [server.port]
        yield Env(instance, server)


def test_first_poll_maps_the_latest_page(env: Env) -> None:
    result = env.poll()
    assert [m.external_id for m in result.mentions] == [
        "112345678901234501",
        "112345678901234502",
        "112345678901234503",
        "112345678901234507",
    ]  # oldest first
    # An integer id, no account, a number for content, an unreadable date: skipped, not fatal.
    assert result.skipped == 4
    assert result.cursor == "112345678901234508"  # the newest seen, even though it was skipped
    assert env.min_ids() == [None]
    dana, lee, boost, jonas = result.mentions

    assert dana.text == "Is #candor down for anyone else? @acme"
    assert (dana.author_handle, dana.author_name, dana.author_followers) == (
        "dana@social.example",
        "Dana",
        1200,
    )
    assert dana.posted_at == datetime(2024, 5, 1, 9, 20, tzinfo=UTC)
    assert (dana.lang_hint, dana.url) == ("en", "https://social.example/@dana/112345678901234501")
    assert dana.raw["tags"] == ["candor"]

    assert lee.author_handle == "lee@other.social"  # remote accounts keep their own instance
    assert lee.text == "outage rant\n\nThird outage this month.\nSwitching providers.\n\nSeriously."
    assert lee.lang_hint == ""

    assert boost.external_id == "112345678901234503"  # the share's own id and time
    assert boost.posted_at == datetime(2024, 5, 1, 9, 25, tzinfo=UTC)
    assert (
        boost.text
        == "We are investigating elevated error rates on the https://status.acme.example/incidents/42 API."
    )
    assert (boost.author_handle, boost.author_followers) == ("acme@acme.social", 52000)
    assert boost.url == "https://acme.social/@acme/112345678901234400"
    assert boost.raw["share"] == {
        "by": "sam@social.example",
        "by_followers": 310,
        "original_id": "112345678901234400",
        "original_posted_at": "2024-05-01T08:00:00.000Z",
    }

    assert jonas.text == "Bei uns auch: #candor & Acme sind down."
    assert (jonas.author_name, jonas.lang_hint) == ("Jonas \U0001f33b", "de")


def test_cursor_continuity_across_polls(env: Env) -> None:
    first = env.poll()
    new = env.instance.add(7)
    second = env.poll(cursor=first.cursor, limit=3, max_pages=2)  # stops with one status left
    assert [m.external_id for m in second.mentions] == new[:6]
    assert second.cursor == new[5]
    later = env.instance.add(2)
    # A restart: nothing but the stored cursor carries over.
    third = env.poll(cursor=second.cursor, limit=3, max_pages=5)
    assert [m.external_id for m in third.mentions] == new[6:] + later
    assert third.cursor == later[-1]
    fourth = env.poll(cursor=third.cursor)
    assert (fourth.mentions, fourth.cursor) == ([], third.cursor)
    requests = len(env.server.seen)
    newest = env.instance.add(2)
    fifth = env.poll(cursor=fourth.cursor)
    assert [m.external_id for m in fifth.mentions] == newest
    assert len(env.server.seen) == requests + 1  # a short page is the last: no extra request
    seen = [m.external_id for poll in (second, third, fourth, fifth) for m in poll.mentions]
    assert seen == new + later + newest  # nothing lost, nothing repeated, in order
    assert env.min_ids()[1:] == [first.cursor, new[2], second.cursor, later[-1], third.cursor, third.cursor]


def test_repeats_from_a_misbehaving_instance_are_dropped(env: Env) -> None:
    cursor = "112345678901234502"
    env.instance.override = json.dumps(env.instance.statuses).encode()  # ignores min_id
    result = env.poll(cursor=cursor)
    assert all(int(m.external_id) > int(cursor) for m in result.mentions)
    assert [m.external_id for m in result.mentions] == ["112345678901234503", "112345678901234507"]


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"error": "x"}', json.dumps([TEMPLATE] * 41).encode(), b"\xff", b"[" * 100_000],
)
def test_unexpected_responses_are_connector_errors(env: Env, body: bytes) -> None:
    env.instance.override = body
    with pytest.raises(ConnectorError):
        env.poll()


def test_items_that_are_not_statuses_are_skipped(env: Env) -> None:
    env.instance.override = b'[1, "two", null, {"id": []}]'
    result = env.poll()
    assert (result.mentions, result.skipped, result.cursor) == ([], 4, None)


def test_http_errors(env: Env) -> None:
    for status, retryable in [(503, True), (429, True), (404, False)]:
        env.instance.status = status
        with pytest.raises(UpstreamStatusError) as caught:
            env.poll()
        assert (caught.value.status, caught.value.retryable) == (status, retryable)


def test_account_statuses_with_a_token(env: Env) -> None:
    result = env.poll(tag=None, account_id="109000000000000001", access_token="tok-123")
    assert result.mentions
    assert env.server.seen[0].path.startswith("/api/v1/accounts/109000000000000001/statuses?")
    assert env.server.seen[0].headers["authorization"] == "Bearer tok-123"


def test_hashtag_with_a_hash_sign(env: Env) -> None:
    assert env.poll(tag="#candor").mentions


@pytest.mark.parametrize(
    ("instance", "kwargs"),
    [
        ("https://mastodon.social", {"tag": "x"}),
        ("mastodon.social/evil", {"tag": "x"}),
        ("user@mastodon.social", {"tag": "x"}),
        ("mastodon.social", {"tag": "../../admin"}),
        ("mastodon.social", {"tag": ""}),
        ("mastodon.social", {"account_id": "12/../../x"}),
        ("mastodon.social", {}),
        ("mastodon.social", {"tag": "a", "account_id": "1"}),
    ],
)
def test_bad_configuration_is_a_connector_error(instance: str, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConnectorError):
        mastodon.poll(instance, cursor=None, **kwargs)


def test_caller_mistakes_are_value_errors() -> None:
    with pytest.raises(ValueError):
        mastodon.poll("mastodon.social", tag="a", cursor="not-an-id")
    with pytest.raises(ValueError):
        mastodon.poll("mastodon.social", tag="a", cursor=None, limit=41)
