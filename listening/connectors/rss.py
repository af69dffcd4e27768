"""RSS and Atom feeds, polled with conditional GETs through `safe_http` (the caller stores the ETag
and Last-Modified this returns and passes them back next time).

feedparser only ever parses bytes Candor fetched: given a URL it would fetch it itself (no SSRF
checks, no limits), and given a bytes object that is not a stream it tries `open()` on it as a
file name, so a feed server answering "/etc/passwd" would have Candor parse a local file. The body
is therefore handed over as a stream (RELIABILITY 16, OWASP API7).
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser

from listening.connectors import safe_http
from listening.connectors.base import ConnectorError, MentionIn
from listening.connectors.items import (
    MAX_AUTHOR_FIELD,
    MAX_EXTERNAL_ID,
    MAX_FUTURE_S,
    MAX_URL,
    clean_string,
    is_web_url,
    language_code,
)
from listening.connectors.text import html_to_text, plain_text

MAX_ENTRIES = 500  # a feed is a window on recent items; more than this in one document is abuse
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
_VALIDATOR = re.compile(r"[\x20-\x7e]{1,512}")  # a stored ETag / Last-Modified we may send back
_EMAIL = re.compile(r"[^\s@()]+@[^\s@()]+")
_EMAIL_AND_NAME = re.compile(
    r"[^\s@()]+@[^\s@()]+\s*\((?P<name1>[^()]+)\)|(?P<name2>[^()]+?)\s*\([^\s@()]+@[^\s@()]+\)"
)
_RAW_STRING = 2048
_MAX_TAGS = 50


@dataclass(frozen=True, slots=True)
class FeedPoll:
    mentions: list[MentionIn]
    etag: str | None  # store and pass back as `etag`
    last_modified: str | None  # store and pass back as `last_modified`
    not_modified: bool  # 304: nothing new, `mentions` is empty


class NotAFeed(ConnectorError):
    """The URL answered, but not with an RSS or Atom feed."""


def poll(
    url: str, *, etag: str | None = None, last_modified: str | None = None, now: datetime | None = None
) -> FeedPoll:
    """Fetch the feed unless it is unchanged (If-None-Match / If-Modified-Since) and return its
    entries as mentions. `now` (default the current time) stands in for missing dates. Raises
    the `safe_http` errors, `UpstreamStatusError` for a status other than 200 and 304, and
    `NotAFeed`."""
    headers = {"Accept": ACCEPT}
    # Values come back from the database: one that could not be sent is dropped, not fatal.
    if etag and _VALIDATOR.fullmatch(etag):
        headers["If-None-Match"] = etag
    if last_modified and _VALIDATOR.fullmatch(last_modified):
        headers["If-Modified-Since"] = last_modified
    response = safe_http.fetch(url, headers=headers)
    fetched_at = now or datetime.now(UTC)
    if response.status == 304:
        return FeedPoll(
            [],
            response.headers.get("etag") or etag,
            response.headers.get("last-modified") or last_modified,
            not_modified=True,
        )
    if response.status != 200:
        raise safe_http.UpstreamStatusError(response.status)
    mentions = parse_feed(
        response.body,
        content_type=response.headers.get("content-type", ""),
        base_url=response.url,
        fetched_at=fetched_at,
    )
    return FeedPoll(mentions, response.headers.get("etag"), response.headers.get("last-modified"), False)


def parse_feed(body: bytes, *, content_type: str, base_url: str, fetched_at: datetime) -> list[MentionIn]:
    """A fetched feed document to mentions (newest first, as feeds list them). A feed with
    syntax errors that still yields entries is accepted (feedparser's "bozo" feeds are common in
    the wild); one with no entries and errors, or no feed version, raises `NotAFeed`."""
    try:
        parsed = feedparser.parse(
            io.BytesIO(body),
            # No content-location: feedparser would resolve guids against it, and an entry's id
            # must not change when the feed moves (it would be stored again, RELIABILITY 19).
            response_headers={"content-type": content_type},
            sanitize_html=True,
        )
    except Exception as exc:  # hostile input into a third-party parser: any failure is "not a feed"
        raise NotAFeed("the URL did not return a readable RSS or Atom feed") from exc
    entries = parsed.get("entries") or []
    if not entries and (parsed.get("bozo") or not parsed.get("version")):
        raise NotAFeed("the URL did not return an RSS or Atom feed")
    feed = parsed.get("feed") or {}
    feed_lang = language_code(feed.get("language"))
    feed_title = _raw_string(feed.get("title"))
    mentions = []
    for entry in entries[:MAX_ENTRIES]:
        mention = _entry_mention(entry, base_url, fetched_at, feed_lang, feed_title)
        if mention is not None:
            mentions.append(mention)
    return mentions


def _entry_mention(
    entry: Any, base_url: str, fetched_at: datetime, feed_lang: str, feed_title: str
) -> MentionIn | None:
    title = _entry_text(entry, "title")
    body = _entry_text(entry, "content") or _entry_text(entry, "summary")
    text = "\n\n".join(part for part in (title, body) if part)
    if not text:
        return None
    link = _string(_get(entry, "link"))
    try:
        link = urljoin(base_url, link) if link else ""
    except ValueError:  # a malformed link (bad IPv6 brackets): no link rather than no mention
        link = ""
    link = link if len(link) <= MAX_URL and is_web_url(link) else ""
    published = _string(_get(entry, "published")) or _string(_get(entry, "updated"))
    identity = clean_string(_string(_get(entry, "id")).strip()) or link
    if not identity:
        identity = "sha256:" + hashlib.sha256(f"{title}\x1f{published}".encode()).hexdigest()
    elif len(identity) > MAX_EXTERNAL_ID:
        identity = "sha256:" + hashlib.sha256(identity.encode()).hexdigest()
    title_detail = _get(entry, "title_detail")
    entry_lang = language_code(title_detail.get("language")) if isinstance(title_detail, dict) else ""
    tags = _get(entry, "tags")
    return MentionIn(
        external_id=identity,
        text=text,
        posted_at=_entry_time(entry, fetched_at),
        author_name=_author_name(_string(_get(entry, "author"))),
        url=link,
        lang_hint=entry_lang or feed_lang,
        raw={
            "feed_title": feed_title,
            "id": _raw_string(_get(entry, "id")),
            "link": _raw_string(_get(entry, "link")),
            "published": _raw_string(_get(entry, "published")),
            "updated": _raw_string(_get(entry, "updated")),
            "tags": [
                _raw_string(tag.get("term"))
                for tag in (tags if isinstance(tags, list) else [])[:_MAX_TAGS]
                if isinstance(tag, dict)
            ],
        },
    )


def _entry_text(entry: Any, key: str) -> str:
    """An entry's title, content or summary as plain text. feedparser says which are HTML (RSS
    descriptions, Atom type="html") and which are text, where a `<` is just a character."""
    if key == "content":
        content = _get(entry, "content")
        detail = content[0] if isinstance(content, list) and content else None
    else:
        detail = _get(entry, f"{key}_detail")
    if not isinstance(detail, dict):
        return plain_text(_string(_get(entry, key)))
    value = _string(detail.get("value"))
    return plain_text(value) if detail.get("type") == "text/plain" else html_to_text(value)


def _author_name(author: str) -> str:
    """The name in feedparser's author string: RSS writes "email (Name)", feedparser gives Atom's
    as "Name (email)"; an address alone is left out (a name is what the portal shows)."""
    match = _EMAIL_AND_NAME.fullmatch(author.strip())
    if match:
        author = match.group("name1") or match.group("name2")
    elif _EMAIL.fullmatch(author.strip()):
        author = ""
    return clean_string(author)[:MAX_AUTHOR_FIELD].strip()


def _entry_time(entry: Any, fetched_at: datetime) -> datetime:
    """Published, else updated, else the fetch time; a date in the far future (a broken or
    hostile feed) is the fetch time too, so it cannot pin a mention to the top of every list."""
    for key in ("published_parsed", "updated_parsed"):
        value = _get(entry, key)
        if value is None:
            continue
        try:
            # feedparser gives UTC struct_time; timegm reads it as UTC (mktime would use local time).
            posted = datetime.fromtimestamp(calendar.timegm(value), UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            continue
        if 0 <= posted.timestamp() <= fetched_at.timestamp() + MAX_FUTURE_S:
            return posted
    return fetched_at


def _get(entry: Any, key: str) -> Any:
    # The stored key only: FeedParserDict.get maps missing keys to others (updated -> published)
    # with a DeprecationWarning on each access.
    return dict.get(entry, key) if isinstance(entry, dict) else None


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _raw_string(value: Any) -> str:
    return clean_string(_string(value)[:_RAW_STRING])
