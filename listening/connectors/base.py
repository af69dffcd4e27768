"""What every connector produces: one normalised mention, not yet stored."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class MentionIn:
    """A mention as a source delivered it, normalised. `external_id` is the source's own id (a
    status id, a feed entry's guid): with the source it makes the mention's identity, so the same
    mention delivered twice is stored once."""

    external_id: str
    text: str
    posted_at: datetime  # timezone-aware
    author_handle: str = ""
    author_name: str = ""
    author_followers: int | None = None
    url: str = ""
    lang_hint: str = ""  # a language the source declares (ISO 639-1), if any
    raw: dict[str, Any] = field(default_factory=dict)  # the source's payload, kept as received


class ConnectorError(Exception):
    """A source could not be read: the message is safe to show to the tenant."""
