"""Mastodon through its public REST API: a hashtag timeline or one account's statuses.

Paging is forward with `min_id`, which returns the statuses IMMEDIATELY newer than the id (unlike
`since_id`, which returns the newest ones and leaves a gap when more than a page arrived). The
caller stores the returned cursor (the newest status id seen) and passes it back: after a restart,
or when `max_pages` cut a poll short, the next poll starts right after the last status returned,
so nothing is lost or repeated. The very first poll (no cursor) takes only the latest page, as a
starting point, rather than the tag's whole history.

Everything the instance returns is treated as untrusted input (OWASP API10:2023, unsafe consumption
of APIs): wrong types, missing fields or absurd sizes skip the status (counted in `skipped`), and a
response that is not a list of at most `limit` statuses raises `ConnectorError`.

A boost (reblog) is kept as its own mention (its id and time: the share is an event that adds to
volume) carrying the original's text, author and URL, with `raw["share"]` naming who shared it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from listening.connectors import safe_http
from listening.connectors.base import ConnectorError, MentionIn
from listening.connectors.items import (
    MAX_AUTHOR_FIELD,
    MAX_FOLLOWERS,
    MAX_URL,
    clean_string,
    decode_json,
    is_web_url,
    language_code,
    parse_time,
)
from listening.connectors.text import html_to_text

MAX_LIMIT = 40  # Mastodon's own maximum for these endpoints
DEFAULT_MAX_PAGES = 10
MAX_PAGE_BYTES = 4 * 1024 * 1024  # 40 statuses are typically under 200 KB
_ID = re.compile(r"[0-9]{1,20}")
_HOST = re.compile(
    r"(?=[^:]{1,253}(?::|$))[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"(?::[0-9]{1,5})?"
)
_TAG = re.compile(r"\w{1,100}")
_ACCT = re.compile(r"[\w.-]{1,100}(?:@[A-Za-z0-9.-]{1,253})?")
_RAW_STRING = 2048
_MAX_TAGS = 50


@dataclass(frozen=True, slots=True)
class MastodonPoll:
    mentions: list[MentionIn]  # oldest first
    cursor: str | None  # the newest status id seen: store it and pass it back
    skipped: int = 0  # statuses that failed validation (or were repeats) and were left out


def poll(
    instance: str,
    *,
    tag: str | None = None,
    account_id: str | None = None,
    cursor: str | None,
    limit: int = MAX_LIMIT,
    max_pages: int = DEFAULT_MAX_PAGES,
    access_token: str | None = None,
    now: float | None = None,
) -> MastodonPoll:
    """New statuses of `#tag` or of account `account_id` on `instance` (a host name, optionally
    with a port) since `cursor`. `access_token` is sent as a bearer token, for instances that
    do not serve these timelines anonymously. Raises `ConnectorError` for a bad instance, tag or
    account id, and the `safe_http` errors (`UpstreamStatusError` for a status other than 200)."""
    instance = instance.strip().lower()
    if not _HOST.fullmatch(instance):
        raise ConnectorError("the Mastodon instance must be a host name such as mastodon.social")
    if (tag is None) == (account_id is None):  # the source's configuration, not a caller's slip
        raise ConnectorError("configure either a hashtag or an account id")
    if tag is not None:
        tag = tag.strip().removeprefix("#")
        if not _TAG.fullmatch(tag):
            raise ConnectorError("the hashtag must be letters, digits and underscores")
        path = f"/api/v1/timelines/tag/{quote(tag, safe='')}"
    else:
        if not (isinstance(account_id, str) and _ID.fullmatch(account_id)):
            raise ConnectorError("the Mastodon account id must be a number")
        path = f"/api/v1/accounts/{account_id}/statuses"
    if cursor is not None and not _ID.fullmatch(cursor):
        raise ValueError("the cursor must be a status id")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
    headers = {"Accept": "application/json"}
    if access_token:
        headers["Authorization"] = f"Bearer {access_token}"
    host = instance.partition(":")[0]
    now_ts = time.time() if now is None else now

    newest = int(cursor) if cursor is not None else None
    found: dict[int, MentionIn] = {}
    skipped = 0
    for _ in range(max_pages):
        params: dict[str, Any] = {"limit": limit}
        if newest is not None:
            params["min_id"] = newest
        statuses = _fetch_page(f"https://{instance}{path}?{urlencode(params)}", headers, limit)
        floor = newest
        page_ids = []
        for status in statuses:
            status_id = _status_id(status)
            # A status at or below the cursor would be a repeat (a buggy or hostile instance).
            if status_id is None or (floor is not None and status_id <= floor):
                skipped += 1
                continue
            page_ids.append(status_id)
            mention = _mention(status, status_id, host, now_ts)
            if mention is None:
                skipped += 1
            else:
                found[status_id] = mention
        if not page_ids:
            break  # caught up, or nothing usable to advance the cursor by
        newest = max(page_ids)
        if floor is None or len(statuses) < limit:
            break  # the first poll's starting page, or the last page
    return MastodonPoll(
        [found[key] for key in sorted(found)], str(newest) if newest is not None else None, skipped
    )


def _fetch_page(url: str, headers: dict[str, str], limit: int) -> list[Any]:
    response = safe_http.fetch(url, headers=headers, max_bytes=MAX_PAGE_BYTES)
    if response.status != 200:
        raise safe_http.UpstreamStatusError(response.status)
    try:
        statuses = decode_json(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConnectorError("the Mastodon instance returned an invalid response") from exc
    if not isinstance(statuses, list) or len(statuses) > limit:
        raise ConnectorError("the Mastodon instance returned an unexpected response")
    return statuses


def _status_id(status: Any) -> int | None:
    value = status.get("id") if isinstance(status, dict) else None
    return int(value) if isinstance(value, str) and _ID.fullmatch(value) else None


def _mention(status: dict[str, Any], status_id: int, host: str, now_ts: float) -> MentionIn | None:
    """One status (or boost) as a mention, or None if it does not hold up to validation."""
    reblog = status.get("reblog")
    if reblog is not None and not isinstance(reblog, dict):
        return None
    original: dict[str, Any] = reblog if reblog is not None else status
    content, spoiler = original.get("content"), original.get("spoiler_text") or ""
    if not isinstance(content, str) or not isinstance(spoiler, str):
        return None
    text = "\n\n".join(part for part in (html_to_text(spoiler), html_to_text(content)) if part)
    posted_at = parse_time(status.get("created_at"), now_ts)
    author = _account(original.get("account"), host)
    if not text or isinstance(posted_at, str) or author is None:
        return None
    handle, name, followers, account_id = author
    url = _url(original.get("url")) or _url(original.get("uri"))
    raw: dict[str, Any] = {
        "id": str(status_id),
        "account_id": account_id,
        "uri": _raw_string(original.get("uri")),
        "visibility": _raw_string(original.get("visibility")),
        "in_reply_to_id": _raw_string(original.get("in_reply_to_id")),
        "sensitive": original.get("sensitive") is True,
        "replies_count": _count(original.get("replies_count")),
        "reblogs_count": _count(original.get("reblogs_count")),
        "favourites_count": _count(original.get("favourites_count")),
        "tags": _tags(original.get("tags")),
    }
    if reblog is not None:
        sharer = _account(status.get("account"), host)
        if sharer is None or _status_id(reblog) is None:
            return None
        raw["share"] = {
            "by": sharer[0],
            "by_followers": sharer[2],
            "original_id": reblog["id"],
            "original_posted_at": _raw_string(reblog.get("created_at")),
        }
    return MentionIn(
        external_id=str(status_id),
        text=text,
        posted_at=posted_at,
        author_handle=handle,
        author_name=name,
        author_followers=followers,
        url=url,
        lang_hint=language_code(original.get("language")),
        raw=raw,
    )


def _account(account: Any, host: str) -> tuple[str, str, int | None, str] | None:
    """(handle as user@instance, display name, followers, account id), or None if unusable."""
    if not isinstance(account, dict):
        return None
    acct = account.get("acct")
    if not isinstance(acct, str) or not _ACCT.fullmatch(acct):
        return None
    handle = acct if "@" in acct else f"{acct}@{host}"  # local accounts come without their instance
    name = account.get("display_name")
    followers = account.get("followers_count")
    return (
        handle[:MAX_AUTHOR_FIELD],
        clean_string(name[:MAX_AUTHOR_FIELD]).strip() if isinstance(name, str) else "",
        followers if type(followers) is int and 0 <= followers <= MAX_FOLLOWERS else None,
        _raw_string(account.get("id")),
    )


def _url(value: Any) -> str:
    return value if isinstance(value, str) and len(value) <= MAX_URL and is_web_url(value) else ""


def _count(value: Any) -> int | None:
    return value if type(value) is int and 0 <= value <= MAX_FOLLOWERS else None


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [_raw_string(tag.get("name")) for tag in value[:_MAX_TAGS] if isinstance(tag, dict)]


def _raw_string(value: Any) -> str:
    return clean_string(value[:_RAW_STRING]) if isinstance(value, str) else ""
