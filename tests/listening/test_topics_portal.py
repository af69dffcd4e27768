"""The topic pages through Django's test client: who may see them, what they show, and that
another tenant's topic is a 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django_tenants.utils import tenant_context

from listening.models import Topic
from listening.services.topics import topics_refresh
from tests.listening.topic_data import centers, seed_mentions

DAY = timedelta(hours=24)


@pytest.fixture
def outage(world, api_source) -> Topic:
    themes = centers()
    now = datetime.now(UTC)
    with tenant_context(world.a):
        seed_mentions(
            source=api_source, theme="outage", center=themes["outage"], count=30, start=now - DAY, span=DAY,
            sentiment="negative",
        )  # fmt: skip
        topics_refresh(now=now)
        return Topic.objects.get()


def test_the_topics_page_lists_topics_with_their_figures(api_for, outage, django_assert_max_num_queries):
    api = api_for("a_viewer")
    with django_assert_max_num_queries(16):
        page = api.get("/listening/topics/")
    assert page.status_code == 200
    html = page.content.decode()
    assert outage.label in html and 'data-sparkline="[[' in html
    assert '30</strong> <span class="muted">mentions' in html and ">new<" in html
    assert 'aria-label="100% negative, 0% neutral, 0% positive"' in html
    assert f'href="/listening/topics/{outage.pk}/"' in html


def test_a_topic_page_shows_its_mentions(api_for, outage):
    page = api_for("a_viewer").get(f"/listening/topics/{outage.pk}/")
    assert page.status_code == 200
    assert page.content.decode().count('data-testid="mention"') == 30


def test_topic_pages_are_for_members_only(world, api_for, outage):
    assert api_for("b_owner", tenant=world.b).get(f"/listening/topics/{outage.pk}/").status_code == 404
    assert api_for("b_owner", tenant=world.a).get("/listening/topics/").status_code == 404
    assert api_for("a_viewer").get("/listening/topics/999999/").status_code == 404
