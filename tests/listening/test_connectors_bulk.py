"""The bulk API body: JSON arrays and NDJSON, item validation, whole-body limits (RELIABILITY 15)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from listening.connectors.bulk import parse_bulk
from listening.connectors.items import ItemError, PayloadRejected

NOW = 1_714_555_800.0  # 2024-05-01T09:30:00Z
JSON = "application/json"
NDJSON = "application/x-ndjson"


def item(**fields: Any) -> dict[str, Any]:
    return {
        "external_id": "id-1",
        "text": "Acme's status page is down",
        "posted_at": "2024-05-01T09:00:00Z",
        **fields,
    }


def parse(items: list[Any], content_type: str = JSON, **kwargs: Any) -> Any:
    if content_type == JSON:
        body = json.dumps(items).encode()
    else:
        body = b"\n".join(json.dumps(i).encode() for i in items)
    return parse_bulk(body, content_type, now=NOW, **kwargs)


def one_error(**fields: Any) -> ItemError:
    valid, errors = parse([item(**fields)])
    assert valid == [] and len(errors) == 1, errors
    return errors[0]


def test_valid_item_is_normalised() -> None:
    valid, errors = parse(
        [
            item(
                posted_at="2024-05-01T11:00:00+02:00",
                author={"handle": "@dana", "name": "Dana", "followers": 1200, "avatar": "https://x/a.png"},
                url="https://social.example/p/1",
                lang="pt-BR",
                likes=3,
                thread={"id": "t-9"},
            )
        ]
    )
    assert errors == []
    [(index, mention)] = valid
    assert index == 0
    assert mention.external_id == "id-1"
    assert mention.posted_at == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    assert (mention.author_handle, mention.author_name, mention.author_followers) == ("@dana", "Dana", 1200)
    assert (mention.url, mention.lang_hint) == ("https://social.example/p/1", "pt")
    assert mention.raw == {"likes": 3, "thread": {"id": "t-9"}, "author": {"avatar": "https://x/a.png"}}


def test_flat_author_fields_and_conversions() -> None:
    valid, errors = parse(
        [
            item(
                external_id=12345,
                posted_at=1714554000,
                author_handle="dana",
                author_followers="42",
                author="ignored",
            )
        ]
    )
    assert errors == []
    mention = valid[0][1]
    assert mention.external_id == "12345"
    assert mention.posted_at == datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
    assert (mention.author_handle, mention.author_followers) == ("dana", 42)
    assert parse([item(posted_at="1714554000")])[0][0][1].posted_at == mention.posted_at


def test_invalid_items_are_reported_by_index_and_valid_ones_kept() -> None:
    items = [
        item(external_id="ok-0"),
        item(external_id=""),
        "not an object",
        item(external_id="ok-3"),
        {"text": "no id, no date"},
        item(external_id="ok-5"),
    ]
    valid, errors = parse(items)
    assert [(index, mention.external_id) for index, mention in valid] == [
        (0, "ok-0"),
        (3, "ok-3"),
        (5, "ok-5"),
    ]
    assert [(e.index, e.field) for e in errors] == [
        (1, "external_id"),
        (2, ""),
        (4, "external_id"),
        (4, "posted_at"),
    ]


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"external_id": None}, "external_id"),
        ({"external_id": True}, "external_id"),
        ({"external_id": 1.5}, "external_id"),
        ({"external_id": "x" * 201}, "external_id"),
        ({"external_id": 10**201}, "external_id"),
        ({"external_id": "   "}, "external_id"),
        ({"text": ""}, "text"),
        ({"text": 42}, "text"),
        ({"text": "x" * 40_001}, "text"),
        ({"posted_at": "2024-05-01T09:00:00"}, "posted_at"),  # no timezone
        ({"posted_at": "2024-05-01"}, "posted_at"),
        ({"posted_at": "yesterday"}, "posted_at"),
        ({"posted_at": NOW + 86_401}, "posted_at"),
        ({"posted_at": "2024-05-02T09:30:01Z"}, "posted_at"),  # one day and a second ahead
        ({"posted_at": -1}, "posted_at"),
        ({"posted_at": 1e300}, "posted_at"),
        ({"posted_at": 10**400}, "posted_at"),
        ({"text": "\u0000"}, "text"),
        ({"external_id": "\u0000"}, "external_id"),
        ({"posted_at": "0001-01-01T00:00:00+14:00"}, "posted_at"),
        ({"posted_at": True}, "posted_at"),
        ({"author": 42}, "author"),
        ({"author": {"handle": 42}}, "author.handle"),
        ({"author": {"followers": -1}}, "author.followers"),
        ({"author_followers": 1.5}, "author_followers"),
        ({"author_followers": True}, "author_followers"),
        ({"author_name": "n" * 201}, "author_name"),
        ({"url": "javascript:alert(1)"}, "url"),
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "https://exa mple.com/"}, "url"),
        ({"url": "https://"}, "url"),
        ({"url": "https://example.com/" + "a" * 2048}, "url"),
        ({"lang": "english"}, "lang"),
        ({"lang": 5}, "lang"),
    ],
)
def test_field_errors(fields: dict[str, Any], field: str) -> None:
    error = one_error(**fields)
    assert (error.index, error.field) == (0, field)
    assert error.message


def test_limits_at_their_edges_pass() -> None:
    valid, errors = parse(
        [item(external_id="x" * 200, text="t" * 40_000, posted_at=NOW + 86_400, author_name="n" * 200)]
    )
    assert errors == [] and len(valid) == 1


def test_ndjson_indexes_are_line_numbers() -> None:
    body = b"\n".join(
        [
            json.dumps(item(external_id="a")).encode(),
            b"",
            b"{not json",
            json.dumps(item(external_id="b")).encode() + b"\r",
            b"   ",
            b"[1, 2]",
            json.dumps(item(external_id="c")).encode(),
            b"",
        ]
    )
    valid, errors = parse_bulk(body, "application/x-ndjson; charset=utf-8", now=NOW)
    assert [(i, m.external_id) for i, m in valid] == [(0, "a"), (3, "b"), (6, "c")]
    assert [(e.index, e.field) for e in errors] == [(2, ""), (5, "")]


@pytest.mark.parametrize(
    "content_type",
    ["application/ndjson", "application/jsonl", "APPLICATION/X-NDJSON", "application/x-jsonlines"],
)
def test_ndjson_content_types(content_type: str) -> None:
    assert len(parse([item()], NDJSON)[0]) == 1
    body = json.dumps(item()).encode()
    assert len(parse_bulk(body, content_type, now=NOW)[0]) == 1


def test_a_single_object_is_one_item() -> None:
    valid, errors = parse_bulk(json.dumps(item()).encode(), "application/json; charset=UTF-8", now=NOW)
    assert [i for i, _ in valid] == [0] and errors == []


@pytest.mark.parametrize("content_type", [JSON, NDJSON])
def test_item_count_limit(content_type: str) -> None:
    assert len(parse([item()] * 10_000, content_type)[0]) == 10_000
    with pytest.raises(PayloadRejected) as caught:
        parse([item()] * 10_001, content_type)
    assert caught.value.status == 413
    with pytest.raises(PayloadRejected):
        parse([item()] * 6, content_type, max_items=5)


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"\xff\xfe[]", JSON, 400),
        (b'[{"text": "caf\xe9"}]', JSON, 400),
        (b'{"external_id": "a"}\n\xc3\x28', NDJSON, 400),
        (b"[" * 100_000 + b"]" * 100_000, JSON, 400),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, JSON, 400),
        (b"not json", JSON, 400),
        (b"", JSON, 400),
        (b'"just a string"', JSON, 400),
        (b"null", JSON, 400),
        (b"[NaN]", JSON, 400),
        (b"[]", "text/csv", 415),
        (b"[]", "application/json; charset=latin-1", 415),
    ],
)
def test_whole_body_rejections(body: bytes, content_type: str, status: int) -> None:
    started = time.monotonic()
    with pytest.raises(PayloadRejected) as caught:
        parse_bulk(body, content_type, now=NOW)
    assert caught.value.status == status
    assert time.monotonic() - started < 2


def test_deep_nesting_in_one_ndjson_line_costs_only_that_line() -> None:
    deep = b'{"external_id": "d", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    body = deep + b"\n" + json.dumps(item(external_id="ok")).encode()
    valid, errors = parse_bulk(body, NDJSON, now=NOW)
    assert [m.external_id for _, m in valid] == ["ok"]
    assert [(e.index, e.message) for e in errors] == [(0, "the JSON is nested too deeply")]


def test_raw_nesting_is_bounded() -> None:
    nested: Any = "leaf"
    for _ in range(25):
        nested = {"n": nested}
    error = one_error(extra=nested)
    assert error.field == "extra"
    assert len(parse([item(extra={"a": [{"b": 1}]})])[0]) == 1


def test_strings_are_made_storable() -> None:
    body = (
        b'[{"external_id": "a\\u0000b", "text": "x\\u0000y \\ud800 \\ud83d\\ude00", '
        b'"posted_at": 1714554000, "note": {"k\\u0000": "v\\udfff"}}]'
    )
    [(_, mention)], errors = parse_bulk(body, JSON, now=NOW)
    assert errors == []
    assert mention.external_id == "ab"
    assert mention.text == "xy \ufffd \U0001f600"
    assert mention.raw == {"note": {"k": "v\ufffd"}}
    mention.text.encode("utf-8")  # storable


@pytest.mark.parametrize("content_type", [JSON, NDJSON])
def test_a_bom_before_the_body_is_accepted(content_type: str) -> None:
    body = b"\xef\xbb\xbf" + json.dumps(item()).encode()
    assert len(parse_bulk(body, content_type, now=NOW)[0]) == 1
