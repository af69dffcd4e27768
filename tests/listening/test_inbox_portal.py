"""The inbox page of the portal through Django's test client: ranking and badges, filters, the
empty state, htmx actions and their plain-form fallbacks, permissions, isolation, query count."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from listening.models import InboxItem
from tests.listening.test_inbox import _queued

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def items(world, api_source) -> dict[str, InboxItem]:
    with tenant_context(world.a):
        return {
            "outage": _queued(
                api_source,
                "outage",
                "Acme is down for all EU customers",
                sentiment="negative",
                sentiment_score=0.95,
                author_followers=250_000,
            ),
            "question": _queued(api_source, "question", "How do I export my invoices from Acme?"),
        }


def _page(api, **params):
    response = api.get("/listening/inbox/", params)
    assert response.status_code == 200
    return response.content.decode()


def test_the_empty_inbox_explains_what_lands_here(api_for):
    html = _page(api_for("a_viewer"))
    assert 'data-testid="inbox-empty"' in html and "Nothing waits for an answer" in html
    assert "question" in html and "complaint" in html


def test_items_are_listed_by_priority_with_their_reasons(api_for, items):
    html = _page(api_for("a_viewer"))
    assert html.index("Acme is down for all EU customers") < html.index("How do I export my invoices")
    assert 'class="badge reason-high_reach">High reach' in html
    assert 'class="badge reason-question">Question' in html
    assert "Mark answered" not in html  # viewers read only
    filtered = _page(api_for("a_viewer"), reason="question")
    assert "How do I export" in filtered and "EU customers" not in filtered
    assert "Nothing matches these filters" in _page(api_for("a_viewer"), q="zebra")


def test_assign_draft_and_answer_with_htmx(world, api_for, items):
    api = api_for("a_analyst")
    pk = items["question"].pk
    assigned = api.client.post(f"/listening/inbox/{pk}/assign/", {"assignee": "me"}, **HTMX)
    assert assigned.status_code == 200 and "A analyst" in assigned.content.decode()
    drafted = api.client.post(
        f"/listening/inbox/{pk}/draft/", {"text": "Billing > Export, then CSV."}, **HTMX
    )
    assert "Billing &gt; Export, then CSV." in drafted.content.decode()
    answered = api.client.post(
        f"/listening/inbox/{pk}/answer/", {"text": "Billing > Export, then CSV."}, **HTMX
    )
    body = answered.content.decode()
    assert 'data-testid="reply"' in body and "Reopen" in body and "first answer after" in body
    with tenant_context(world.a):
        item = InboxItem.objects.get(pk=pk)
        assert item.status == "answered" and item.first_responder_id == world.users["a_analyst"].pk


def test_an_invalid_action_shows_why_in_the_item(world, api_for, items):
    api = api_for("a_analyst")
    pk = items["outage"].pk
    refused = api.client.post(
        f"/listening/inbox/{pk}/assign/", {"assignee": world.users["a_viewer"].pk}, **HTMX
    )
    assert refused.status_code == 200 and 'role="alert"' in refused.content.decode()
    empty = api.client.post(f"/listening/inbox/{pk}/answer/", {"text": "  "}, **HTMX)
    assert "Write the reply that was sent." in empty.content.decode()
    with tenant_context(world.a):
        assert InboxItem.objects.get(pk=pk).status == "new"


def test_without_javascript_the_forms_post_and_come_back(world, api_for, items):
    api = api_for("a_analyst")
    pk = items["outage"].pk
    response = api.client.post(f"/listening/inbox/{pk}/close/")
    assert response.status_code == 302 and response["Location"] == "/listening/inbox/"
    with tenant_context(world.a):
        assert InboxItem.objects.get(pk=pk).status == "closed"
    again = api.client.post(f"/listening/inbox/{pk}/close/", follow=True)
    assert "already no reply needed" in again.content.decode()


def test_viewers_cannot_act_and_other_tenants_see_nothing(world, api_for, items):
    pk = items["outage"].pk
    assert (
        api_for("a_viewer").client.post(f"/listening/inbox/{pk}/assign/", {"assignee": "me"}).status_code
        == 403
    )
    other = api_for("b_owner", tenant=world.b)
    assert other.client.post(f"/listening/inbox/{pk}/answer/", {"text": "x"}).status_code == 404
    assert "EU customers" not in _page(other)


def test_the_page_query_count_does_not_grow_with_items(
    world, api_source, api_for, items, django_assert_max_num_queries
):
    api = api_for("a_analyst")
    api.post(f"/api/v1/inbox/{items['outage'].pk}/assign", {"assignee": "me"})
    with django_assert_max_num_queries(30) as first:
        _page(api)
    with tenant_context(world.a):
        for i in range(10):
            _queued(api_source, f"more-{i}", f"Is Acme down in region {i}?")
    with django_assert_max_num_queries(len(first)):
        _page(api)


def test_admins_change_the_thresholds_on_the_page(world, api_for):
    admin = api_for("a_admin")
    assert 'data-testid="inbox-settings"' in _page(admin)
    assert 'data-testid="inbox-settings"' not in _page(api_for("a_analyst"))
    fields = {"high_reach_followers": 2500, "negative_min_score": 0.75, "response_target_minutes": 30}
    saved = admin.client.post("/listening/inbox/settings/", fields, follow=True)
    assert "Inbox settings saved" in saved.content.decode()
    assert admin.get("/api/v1/inbox/settings").json() | {"updated_at": None} == {**fields, "updated_at": None}
    refused = admin.client.post(
        "/listening/inbox/settings/", {**fields, "negative_min_score": 3}, follow=True
    )
    assert "were not saved" in refused.content.decode()
    assert admin.get("/api/v1/inbox/settings").json()["negative_min_score"] == 0.75
    assert api_for("a_analyst").client.post("/listening/inbox/settings/", fields).status_code == 403
