from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from listening.connectors.base import MentionIn
from listening.models import Source, SourceKind


@pytest.fixture
def api_source(world) -> Source:
    from django_tenants.utils import tenant_context

    with tenant_context(world.a):
        return Source.objects.create(name="Partner feed", kind=SourceKind.API)


def mention_in(external_id: str, text: str, minutes_ago: int = 5, **extra: Any) -> MentionIn:
    return MentionIn(
        external_id=external_id,
        text=text,
        posted_at=datetime.now(UTC) - timedelta(minutes=minutes_ago),
        author_handle=extra.pop("author_handle", "someone"),
        **extra,
    )
