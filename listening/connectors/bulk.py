"""The bulk API's body: up to 10,000 mentions as a JSON array or as NDJSON (one JSON object per
line), validated item by item (see `listening.connectors.items` for the fields).

    POST .../mentions/bulk   Content-Type: application/json         [{...}, {...}]
    POST .../mentions/bulk   Content-Type: application/x-ndjson     {...}\\n{...}\\n

`ItemError.index` is the item's position in the array, or the 0-based line number in NDJSON (blank
lines are skipped but keep their number, so the index points at the line the sender wrote).
"""

from __future__ import annotations

from listening.connectors.base import MentionIn
from listening.connectors.items import ItemError, PayloadRejected, parse_json_items

MAX_ITEMS = 10_000
JSON_TYPES = frozenset({"application/json", "text/json"})
NDJSON_TYPES = frozenset(
    {
        "application/x-ndjson",
        "application/ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "application/jsonlines",
    }
)


def parse_bulk(
    body: bytes, content_type: str, max_items: int = MAX_ITEMS, *, now: float | None = None
) -> tuple[list[tuple[int, MentionIn]], list[ItemError]]:
    """The valid mentions with their index, and one `ItemError` per problem in the others.
    `now` (unix seconds, default the current time) bounds `posted_at`. Raises `PayloadRejected`
    (status 400, 413 for too many items, 415 for another content type or charset) when the body
    as a whole cannot be read: not UTF-8, not JSON, nested too deeply, not an array or object."""
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise PayloadRejected("the body must be UTF-8", status=415)
    if media_type in JSON_TYPES:
        return parse_json_items(body, ndjson=False, max_items=max_items, now=now)
    if media_type in NDJSON_TYPES:
        return parse_json_items(body, ndjson=True, max_items=max_items, now=now)
    raise PayloadRejected("the content type must be application/json or application/x-ndjson", status=415)
