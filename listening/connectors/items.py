"""Validation of pushed mentions, shared by the webhook, the bulk API and file uploads.

An item is a JSON object (or an upload row turned into one) with these fields:

    external_id       required: a string of 1-200 characters, or an integer (turned into a string)
    text              required: 1-40,000 characters
    posted_at         required: ISO 8601 with a timezone ("2024-05-01T09:30:00Z", "...+02:00"),
                      or unix seconds (a number, or a string of digits); from 1970 to one day ahead
    author            optional: {"handle": str, "name": str, "followers": int >= 0}, or a string
                      (the handle); or the flat fields author_handle, author_name, author_followers
    url               optional: an http or https URL, at most 2,048 characters
    lang              optional: a language hint, ISO 639-1 ("en", "pt-BR" gives "pt")
    anything else     kept as received in `raw`

A whole body that cannot be read raises `PayloadRejected`; a readable body gives the valid items and
one `ItemError` per problem in the others, so one bad item never costs the rest (bulk, uploads).

Strings are made storable on the way in: PostgreSQL text and jsonb cannot hold NUL, and a lone
UTF-16 surrogate (a JSON escape like "\\ud800") cannot be encoded; NULs are removed and lone
surrogates become U+FFFD.

Speed matters (the bulk API must sustain 5,000 mentions/s end to end): the checks are plain Python on
the decoded JSON, and the slow clean-up walk only runs when the body holds the escapes that need it.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from listening.connectors.base import ConnectorError, MentionIn

MAX_EXTERNAL_ID = 200
MAX_TEXT = 40_000
MAX_AUTHOR_FIELD = 200
MAX_URL = 2048
MAX_FOLLOWERS = 10**12
MAX_FUTURE_S = 86_400
MAX_RAW_DEPTH = 20  # nesting kept in `raw` (jsonb); the JSON decoder itself stops near 1,000
FIELDS = (
    "external_id",
    "text",
    "posted_at",
    "author_handle",
    "author_name",
    "author_followers",
    "url",
    "lang",
)
_KNOWN = frozenset((*FIELDS, "author"))
_AUTHOR_KEYS = {"handle": "author_handle", "name": "author_name", "followers": "author_followers"}
_LANG = re.compile(r"([A-Za-z]{2})(?:[-_][A-Za-z0-9]{1,8})*")
# Escapes that decode to NUL or to a UTF-16 surrogate (paired ones are fine; lone ones are not).
_NEEDS_CLEANING = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_WEB_URL = re.compile(r"(?i)https?://[^\x00-\x20\x7f/?#]+(?:[/?#][^\x00-\x20\x7f]*)?")


@dataclass(frozen=True, slots=True)
class ItemError:
    """One problem with one item: `index` is its position (0-based in a JSON array, the line in
    NDJSON; see each reader), `field` the item's field ("" for the item as a whole)."""

    index: int
    field: str
    message: str


class PayloadRejected(ConnectorError):
    """The whole body or file cannot be read: the API answers `status` (400, 413 or 415) with the
    message, which is safe to show."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def decode_json(data: bytes | str) -> Any:
    """Strict JSON (no NaN or Infinity, which PostgreSQL's jsonb refuses). Raises ValueError, or
    RecursionError for nesting deeper than the decoder's limit."""
    return json.loads(data, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_items(
    body: bytes, *, ndjson: bool, max_items: int, now: float | None = None
) -> tuple[list[tuple[int, MentionIn]], list[ItemError]]:
    """A JSON array (or a single object) or NDJSON body into valid items by index and errors.
    Raises `PayloadRejected` for the body as a whole."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadRejected("the body is not valid UTF-8") from exc
    now_ts = time.time() if now is None else now
    clean = _NEEDS_CLEANING.search(body) is not None
    text = text.removeprefix("\ufeff")  # a BOM some clients send first
    if ndjson:
        return _validate_all(_ndjson_objects(text, max_items), now_ts, clean)
    try:
        data = decode_json(text)
    except RecursionError as exc:
        raise PayloadRejected("the JSON is nested too deeply") from exc
    except ValueError as exc:
        raise PayloadRejected("the body is not valid JSON") from exc
    if isinstance(data, dict):
        data = [data]
    elif not isinstance(data, list):
        raise PayloadRejected("the body must be a JSON array or object")
    if len(data) > max_items:
        raise PayloadRejected(f"at most {max_items} items per request", status=413)
    return _validate_all(enumerate(data), now_ts, clean)


def _ndjson_objects(text: str, max_items: int) -> Iterator[tuple[int, Any]]:
    """(line index, decoded value) per non-blank line; a line that is not JSON yields an
    `ItemError` in place of the value."""
    count = 0
    for index, line in enumerate(text.split("\n")):
        if not line.strip():
            continue
        count += 1
        if count > max_items:
            raise PayloadRejected(f"at most {max_items} items per request", status=413)
        try:
            yield index, decode_json(line)
        except RecursionError:
            yield index, ItemError(index, "", "the JSON is nested too deeply")
        except ValueError:
            yield index, ItemError(index, "", "the line is not valid JSON")


def _validate_all(
    items: Iterator[tuple[int, Any]], now_ts: float, clean: bool
) -> tuple[list[tuple[int, MentionIn]], list[ItemError]]:
    valid: list[tuple[int, MentionIn]] = []
    errors: list[ItemError] = []
    for index, item in items:
        if isinstance(item, ItemError):
            errors.append(item)
            continue
        mention = mention_from_item(clean_tree(item) if clean else item, index, now_ts, errors)
        if mention is not None:
            valid.append((index, mention))
    return valid, errors


def mention_from_item(
    item: Any, index: int, now_ts: float, errors: list[ItemError], *, raw: dict[str, Any] | None = None
) -> MentionIn | None:
    """Validate one decoded item; append its problems to `errors` and return None if it has any.
    The item's other keys become `raw`, unless `raw` is given (uploads, where the mapping says
    which columns are fields and the rest is kept under the file's own names)."""
    if type(item) is not dict:
        errors.append(ItemError(index, "", "each item must be a JSON object"))
        return None
    before = len(errors)
    external_id = _external_id(item.get("external_id"), index, errors)
    text = _text(item.get("text"), index, errors)
    posted_at = _posted_at(item.get("posted_at"), index, now_ts, errors)
    handle, name, followers = _author(item, index, errors)
    url = _url(item.get("url"), index, errors)
    lang = _lang(item.get("lang"), index, errors)
    if raw is None:
        raw = {key: value for key, value in item.items() if key not in _KNOWN}
        author = item.get("author")
        if type(author) is dict:
            extra = {k: v for k, v in author.items() if k not in _AUTHOR_KEYS}
            if extra:
                raw["author"] = extra
    for key, value in raw.items():
        if type(value) in (dict, list) and _depth(value) > MAX_RAW_DEPTH:
            errors.append(ItemError(index, key, f"nested more than {MAX_RAW_DEPTH} levels deep"))
    if len(errors) > before:
        return None
    assert external_id is not None and text is not None and posted_at is not None
    return MentionIn(
        external_id=external_id,
        text=text,
        posted_at=posted_at,
        author_handle=handle,
        author_name=name,
        author_followers=followers,
        url=url,
        lang_hint=lang,
        raw=raw,
    )


def _external_id(value: Any, index: int, errors: list[ItemError]) -> str | None:
    if type(value) is int:
        value = str(value)
    if type(value) is str and "\x00" in value:
        value = value.replace("\x00", "")
    if type(value) is not str or not value.strip():
        errors.append(ItemError(index, "external_id", "required: a non-empty string or an integer"))
        return None
    if len(value) > MAX_EXTERNAL_ID:
        errors.append(ItemError(index, "external_id", f"at most {MAX_EXTERNAL_ID} characters"))
        return None
    return value


def _text(value: Any, index: int, errors: list[ItemError]) -> str | None:
    if type(value) is str and "\x00" in value:
        value = value.replace("\x00", "")
    if type(value) is not str or not value.strip():
        errors.append(ItemError(index, "text", "required: a non-empty string"))
        return None
    if len(value) > MAX_TEXT:
        errors.append(ItemError(index, "text", f"at most {MAX_TEXT} characters"))
        return None
    return value


def parse_time(value: Any, now_ts: float) -> datetime | str:
    """ISO 8601 with a timezone, or unix seconds, as an aware UTC datetime between 1970 and one
    day after `now_ts`; otherwise the reason it is not acceptable."""
    if type(value) is str and value.isascii() and value.isdigit() and len(value) <= 12:
        value = int(value)
    if type(value) in (int, float):
        # Compared before any conversion: float(10**400) would overflow; NaN fails the test too.
        if not 0 <= value <= now_ts + MAX_FUTURE_S:
            return "must be between 1970 and one day from now"
        return datetime.fromtimestamp(value, UTC)
    if type(value) is not str:
        return "required: ISO 8601 with a timezone, or unix seconds"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return "must be ISO 8601 with a timezone, or unix seconds"
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return "must include a timezone (for example Z or +02:00)"
    try:
        ts = parsed.timestamp()
        if not 0 <= ts <= now_ts + MAX_FUTURE_S:
            return "must be between 1970 and one day from now"
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return "must be between 1970 and one day from now"


def _posted_at(value: Any, index: int, now_ts: float, errors: list[ItemError]) -> datetime | None:
    parsed = parse_time(value, now_ts)
    if isinstance(parsed, str):
        errors.append(ItemError(index, "posted_at", parsed))
        return None
    return parsed


def _author(item: dict[str, Any], index: int, errors: list[ItemError]) -> tuple[str, str, int | None]:
    fields: dict[str, tuple[str, Any]] = {}  # our field -> (the name the sender used, value)
    author = item.get("author")
    if type(author) is dict:
        for key, ours in _AUTHOR_KEYS.items():
            if key in author:
                fields[ours] = (f"author.{key}", author[key])
    elif type(author) is str:
        fields["author_handle"] = ("author", author)
    elif author is not None:
        errors.append(ItemError(index, "author", "must be an object or a string"))
    for ours in _AUTHOR_KEYS.values():
        if ours in item:  # the flat form wins over the object
            fields[ours] = (ours, item[ours])
    handle = _short_string(fields.get("author_handle"), index, errors)
    name = _short_string(fields.get("author_name"), index, errors)
    followers: int | None = None
    if "author_followers" in fields:
        label, value = fields["author_followers"]
        if type(value) is str and value.isascii() and value.isdigit() and len(value) <= 13:
            value = int(value)  # CSV cells are strings
        if type(value) is int and 0 <= value <= MAX_FOLLOWERS:
            followers = value
        elif value is not None:
            errors.append(ItemError(index, label, "must be an integer >= 0"))
    return handle, name, followers


def _short_string(entry: tuple[str, Any] | None, index: int, errors: list[ItemError]) -> str:
    if entry is None or entry[1] is None:
        return ""
    label, value = entry
    if type(value) is not str:
        errors.append(ItemError(index, label, "must be a string"))
        return ""
    if len(value) > MAX_AUTHOR_FIELD:
        errors.append(ItemError(index, label, f"at most {MAX_AUTHOR_FIELD} characters"))
        return ""
    return value.replace("\x00", "").strip()


def _url(value: Any, index: int, errors: list[ItemError]) -> str:
    if value is None or value == "":
        return ""
    if type(value) is not str or len(value) > MAX_URL or not is_web_url(value):
        errors.append(
            ItemError(index, "url", f"must be an http or https URL of at most {MAX_URL} characters")
        )
        return ""
    return value


def is_web_url(value: str) -> bool:
    """An absolute http(s) URL with a host and no spaces or control characters: safe to show as a
    link (a `javascript:` URL in the portal would be stored XSS). One regex: urlsplit per item
    was the bulk parser's largest cost."""
    return _WEB_URL.fullmatch(value) is not None


def _lang(value: Any, index: int, errors: list[ItemError]) -> str:
    if value is None or value == "":
        return ""
    code = language_code(value)
    if not code:
        errors.append(ItemError(index, "lang", "must be an ISO 639-1 code such as 'en' or 'pt-BR'"))
    return code


def language_code(value: Any) -> str:
    """The ISO 639-1 primary subtag of a language tag ("pt-BR" gives "pt"), or "" if `value` is
    not such a tag."""
    match = _LANG.fullmatch(value) if type(value) is str else None
    return match.group(1).lower() if match else ""


def _depth(value: Any, limit: int = MAX_RAW_DEPTH) -> int:
    """Nesting depth of a decoded JSON value, counting no further than limit + 1."""
    if limit < 0:
        return 1
    if type(value) is dict:
        return 1 + max((_depth(v, limit - 1) for v in value.values()), default=0)
    if type(value) is list:
        return 1 + max((_depth(v, limit - 1) for v in value), default=0)
    return 0


def clean_string(value: str) -> str:
    """A string PostgreSQL can store: no NUL, lone surrogates replaced by U+FFFD."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    return _LONE_SURROGATE.sub("\ufffd", value)


def clean_tree(value: Any, depth: int = MAX_RAW_DEPTH + 2) -> Any:
    """`clean_string` on every string (keys included) of a decoded JSON value. Below `depth` the
    value is left as it is: anything nested that deep is refused by the depth check anyway, and
    recursing as deep as the decoder allows could exhaust the stack."""
    if type(value) is str:
        return clean_string(value)
    if depth <= 0:
        return value
    if type(value) is dict:
        return {clean_string(k): clean_tree(v, depth - 1) for k, v in value.items()}
    if type(value) is list:
        return [clean_tree(v, depth - 1) for v in value]
    return value
