"""The inbox over real HTTP and PostgreSQL: queueing from enrichment (once, one item per story),
ranking, assignment, the status workflow and its history, first-response times, validation,
permissions, isolation and pinned query counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.postgres.search import SearchVector
from django.utils import timezone
from django_tenants.utils import tenant_context

from listening.models import (
    InboxEvent,
    InboxItem,
    InboxSettings,
    InboxStatus,
    Mention,
    Query,
    QueryMatch,
    Story,
)
from listening.services import enrichment, ingest
from listening.services.inbox import inbox_items_queue
from tests.listening.conftest import mention_in

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _mention(source, ext: str, text: str, **fields: Any) -> Mention:
    """An enriched mention, as enrichment leaves it."""
    fields.setdefault("sentiment", "neutral")
    fields.setdefault("sentiment_score", 0.8)
    fields.setdefault("author_followers", 100)
    fields.setdefault("lang", "en")
    fields.setdefault("received_at", T0)
    mention = Mention.objects.create(
        source=source,
        external_id=ext,
        text=text,
        author_handle=f"user_{ext}",
        posted_at=fields["received_at"] - timedelta(minutes=1),
        enriched_at=fields["received_at"],
        **fields,
    )
    Mention.objects.filter(pk=mention.pk).update(search_vector=SearchVector("text", config="english"))
    return mention


def _queued(source, ext: str, text: str, **fields: Any) -> InboxItem:
    mention = _mention(source, ext, text, **fields)
    assert inbox_items_queue(mentions=[mention]) == 1
    return InboxItem.objects.get(mention=mention)


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
            "negative": _queued(
                api_source, "negative", "meh, Acme again", sentiment="negative", sentiment_score=0.7
            ),
        }


# queueing ------------------------------------------------------------------------------------------

TEXTS = {
    "complaint": "Acme Cloud is not working again, our whole team is blocked. Anyone else?",
    "retweet": "RT @ops: Acme Cloud is not working again, our whole team is blocked. Anyone else?",
    "copy": "Acme Cloud is not working again, our whole team is blocked. Anyone else? https://t.co/x",
    "question": "@acme_es ¿Cómo puedo cambiar el método de pago?",
    "praise": "Loving the new Acme dashboard, the team did a fantastic job!",
}


def test_enrichment_queues_what_needs_an_answer_once_per_story_and_once_per_delivery(
    world, api_source, api_for
):
    with tenant_context(world.a):
        result = ingest.mention_ingest(source=api_source, items=[mention_in(k, t) for k, t in TEXTS.items()])
        assert enrichment.mentions_enrich(mention_ids=result.ids) == len(TEXTS)
        # The same batch delivered again (a broker redelivery) queues nothing more.
        assert enrichment.mentions_enrich(mention_ids=result.ids) == 0
        queued = {i.mention.external_id: i for i in InboxItem.objects.select_related("mention", "story")}
        assert set(queued) == {"complaint", "question"}
        assert set(queued["complaint"].reasons) >= {"question", "complaint"}
        assert "question" in queued["question"].reasons
        assert queued["complaint"].story.mention_count == 3  # the retweet and the copy joined it
        assert queued["complaint"].received_at == Mention.objects.get(external_id="complaint").received_at
        assert InboxEvent.objects.filter(kind="created").count() == 2
    listed = api_for("a_viewer").get("/api/v1/inbox").json()["results"]
    by_ext = {row["mention"]["id"]: row for row in listed}
    assert by_ext[queued["complaint"].mention_id]["copies"] == 2


def test_queueing_the_same_mentions_again_creates_nothing(world, api_source):
    with tenant_context(world.a):
        story = Story.objects.create(key=7, first_seen_at=T0, last_seen_at=T0, mention_count=2)
        first = _mention(api_source, "a", "Is Acme down?", story=story)
        copy = _mention(api_source, "b", "Is Acme down?", story=story)
        assert inbox_items_queue(mentions=[first, copy]) == 1
        assert inbox_items_queue(mentions=[first, copy]) == 0
        assert InboxItem.objects.count() == 1 and InboxItem.objects.get().mention == first


def test_thresholds_are_per_tenant_settings(world, api_source, api_for):
    with tenant_context(world.a):
        quiet = _mention(api_source, "quiet", "Acme shipped v2", author_followers=600)
        assert inbox_items_queue(mentions=[quiet]) == 0
    admin = api_for("a_admin")
    assert admin.get("/api/v1/inbox/settings").json()["high_reach_followers"] == 10_000
    changed = admin.patch("/api/v1/inbox/settings", {"high_reach_followers": 500})
    assert changed.status_code == 200 and changed.json()["high_reach_followers"] == 500
    with tenant_context(world.a):
        louder = _mention(api_source, "louder", "Acme shipped v2", author_followers=600)
        assert inbox_items_queue(mentions=[louder]) == 1
        assert InboxItem.objects.get(mention=louder).reasons == ["high_reach"]
    with tenant_context(world.b):
        assert not InboxSettings.objects.exists()  # tenant B keeps its defaults


def test_settings_need_manage_and_valid_values(api_for):
    assert (
        api_for("a_analyst").patch("/api/v1/inbox/settings", {"high_reach_followers": 5}).status_code == 403
    )
    bad = api_for("a_admin").patch(
        "/api/v1/inbox/settings", {"negative_min_score": 1.5, "high_reach_followers": 0}
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"negative_min_score", "high_reach_followers"}


# ranking and filters -------------------------------------------------------------------------------


def test_the_list_is_ranked_by_priority_and_waiting_time_lifts_old_items(world, api_source, api_for, items):
    api = api_for("a_viewer")
    ranked = [row["mention"]["id"] for row in api.get("/api/v1/inbox").json()["results"]]
    assert ranked == [items[k].mention_id for k in ("outage", "question", "negative")]
    now = timezone.now()
    with tenant_context(world.a):
        # The same question twice: the one waiting for 12 hours goes before the fresh one, with half
        # of the full waiting bonus; a bigger account's fresh question still goes first.
        text = "Where do I find the audit log in Acme?"
        fresh = _queued(api_source, "fresh", text, received_at=now)
        old = _queued(api_source, "old", text, received_at=now - timedelta(hours=12))
        bigger = _queued(api_source, "bigger", text, received_at=now, author_followers=100_000)
    rows = {row["id"]: row for row in api.get("/api/v1/inbox", {"q": "audit"}).json()["results"]}
    assert list(rows) == [bigger.pk, old.pk, fresh.pk]
    assert rows[old.pk]["rank"] == pytest.approx(rows[old.pk]["priority"] + 5.0, abs=0.01)
    assert rows[fresh.pk]["rank"] == pytest.approx(rows[fresh.pk]["priority"], abs=0.01)


def test_filters(world, api_source, api_for, items):
    api = api_for("a_analyst")
    api.post(f"/api/v1/inbox/{items['question'].pk}/assign", {"assignee": "me"})

    def ids(**params):
        response = api.get("/api/v1/inbox", params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(assignee="me") == {items["question"].pk}
    assert ids(assignee=str(world.users["a_analyst"].pk)) == {items["question"].pk}
    assert ids(assignee="unassigned") == {items["outage"].pk, items["negative"].pk}
    assert ids(reason="high_reach") == {items["outage"].pk}
    assert ids(reason="question") == {items["question"].pk}
    assert ids(q="invoices") == {items["question"].pk}
    assert ids(status="assigned") == {items["question"].pk}
    api.post(f"/api/v1/inbox/{items['negative'].pk}/close", {})
    assert items["negative"].pk not in ids()
    assert ids(status="closed") == {items["negative"].pk}
    assert len(ids(status="all")) == 3
    assert ids(since="2026-11-20T08:00:00Z", until="2026-11-20T10:00:00Z") == {
        items["outage"].pk,
        items["question"].pk,
    }
    assert ids(since="2026-11-21T00:00:00Z") == set()
    with tenant_context(world.a):
        query = Query.objects.create(name="Outages", expression="down")
        QueryMatch.objects.create(query=query, mention_id=items["outage"].mention_id, posted_at=T0)
    assert ids(query=query.pk) == {items["outage"].pk}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "pending"}, "status"),
        ({"assignee": "bob"}, "assignee"),
        ({"assignee": "-3"}, "assignee"),
        ({"reason": "angry"}, "reason"),
        ({"query": "x"}, "query"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-21T00:00:00Z", "until": "2026-11-20T00:00:00Z"}, "until"),
    ],
)
def test_bad_filters_answer_400_naming_the_field(api_for, params, field):
    response = api_for("a_viewer").get("/api/v1/inbox", params)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_list_query_count_does_not_grow_with_items(
    world, api_source, api_for, items, django_assert_max_num_queries
):
    api = api_for("a_analyst")
    for key in ("outage", "question"):
        api.post(f"/api/v1/inbox/{items[key].pk}/assign", {"assignee": "me"})
    with django_assert_max_num_queries(14):
        assert len(api.get("/api/v1/inbox", {"status": "all"}).json()["results"]) == 3
    with tenant_context(world.a):
        for i in range(12):
            _queued(api_source, f"more-{i}", f"Is Acme down in region {i}?", author_followers=10 + i)
    with django_assert_max_num_queries(14):
        assert len(api.get("/api/v1/inbox", {"status": "all"}).json()["results"]) == 15


# assignment ----------------------------------------------------------------------------------------


def test_assign_to_members_and_agency_staff_who_may_edit(world, api_for, items):
    api = api_for("a_admin")
    url = f"/api/v1/inbox/{items['outage'].pk}/assign"
    analyst = world.users["a_analyst"]
    body = api.post(url, {"assignee": analyst.pk}).json()
    assert body["assignee"] == {"id": analyst.pk, "name": analyst.full_name} and body["status"] == "assigned"
    assert (
        api.post(url, {"assignee": world.users["ag_admin"].pk}).json()["assignee"]["id"]
        == world.users["ag_admin"].pk
    )
    assert api.post(url, {"assignee": "me"}).json()["assignee"]["id"] == world.users["a_admin"].pk
    back = api.post(url, {"assignee": None}).json()
    assert back["assignee"] is None and back["status"] == "new"


@pytest.mark.parametrize("who", ["a_viewer", "ag_viewer", "b_owner", "nobody", "text", "bool"])
def test_assign_refuses_people_who_cannot_work_this_inbox(world, api_for, items, who):
    assignee = {"nobody": 987_654_321, "text": "bob", "bool": True}.get(who) or world.users[who].pk
    response = api_for("a_admin").post(f"/api/v1/inbox/{items['outage'].pk}/assign", {"assignee": assignee})
    assert response.status_code == 400
    assert "assignee" in response.json()["error"]["fields"]
    with tenant_context(world.a):
        assert InboxItem.objects.get(pk=items["outage"].pk).assignee_id is None


def test_assign_needs_a_body(api_for, items):
    response = api_for("a_admin").post(f"/api/v1/inbox/{items['outage'].pk}/assign", {})
    assert response.status_code == 400 and "assignee" in response.json()["error"]["fields"]


# workflow ------------------------------------------------------------------------------------------


def test_draft_answer_reopen_close_and_every_change_is_recorded(world, api_for, items):
    api = api_for("a_analyst")
    url = f"/api/v1/inbox/{items['question'].pk}"
    drafted = api.post(f"{url}/draft", {"draft": "Hi! Go to Billing > Export."}).json()
    assert drafted["draft"] == "Hi! Go to Billing > Export." and drafted["status"] == "assigned"
    assert drafted["assignee"]["id"] == world.users["a_analyst"].pk  # drafting takes the item

    assert api.post(f"{url}/answer", {"reply": "   "}).status_code == 400
    answered = api.post(f"{url}/answer", {"reply": "Hi! Go to Billing > Export."}).json()
    assert answered["status"] == "answered" and answered["reply"] == "Hi! Go to Billing > Export."
    assert answered["draft"] == "" and answered["first_response_at"] is not None
    again = api.post(f"{url}/answer", {"reply": "twice"})
    assert again.status_code == 400 and "status" in again.json()["error"]["fields"]
    assert api.post(f"{url}/draft", {"draft": "x"}).status_code == 400
    assert api.post(f"{url}/close", {}).status_code == 400

    reopened = api.post(f"{url}/reopen").json()
    assert reopened["status"] == "assigned" and reopened["first_response_at"] == answered["first_response_at"]
    assert api.post(f"{url}/reopen").status_code == 400
    closed = api.post(f"{url}/close", {"note": "handled by phone"}).json()
    assert closed["status"] == "closed"

    history = api.get(f"{url}/events").json()
    assert [e["kind"] for e in history] == ["created", "drafted", "answered", "reopened", "closed"]
    assert history[0]["actor"] is None
    assert {e["actor"]["id"] for e in history[1:]} == {world.users["a_analyst"].pk}
    assert history[-1]["data"] == {"note": "handled by phone"}


def test_viewers_read_but_do_not_act(api_for, items):
    viewer = api_for("a_viewer")
    url = f"/api/v1/inbox/{items['question'].pk}"
    assert viewer.get(url).status_code == 200
    assert viewer.get("/api/v1/inbox/stats").status_code == 200
    for action, body in (
        ("assign", {"assignee": "me"}),
        ("draft", {"draft": "x"}),
        ("answer", {"reply": "x"}),
    ):
        assert viewer.post(f"{url}/{action}", body).status_code == 403
    read_token = api_for("a_admin", scope="read")
    assert read_token.post(f"{url}/answer", {"reply": "x"}).status_code == 403


def test_other_tenants_items_answer_404(world, api_for, items):
    other = api_for("b_owner", tenant=world.b)
    url = f"/api/v1/inbox/{items['question'].pk}"
    assert other.get(url).status_code == 404
    assert other.post(f"{url}/answer", {"reply": "x"}).status_code == 404
    assert other.post(f"{url}/assign", {"assignee": "me"}).status_code == 404
    assert other.get("/api/v1/inbox").json()["results"] == []
    assert api_for("a_viewer").get("/api/v1/inbox/999999").status_code == 404


# first-response times ------------------------------------------------------------------------------


def _at(monkeypatch, moment: datetime) -> None:
    monkeypatch.setattr(timezone, "now", lambda: moment)


def test_first_response_times_per_member_and_overall(world, api_source, api_for, monkeypatch):
    with tenant_context(world.a):
        made = {
            name: _queued(api_source, name, f"Is Acme down? ({name})", received_at=T0)
            for name in ("a", "b", "c", "d", "late", "waiting", "waiting2")
        }
    analyst, admin = api_for("a_analyst"), api_for("a_admin")

    def answer(api, name, after):
        _at(monkeypatch, T0 + after)
        assert api.post(f"/api/v1/inbox/{made[name].pk}/answer", {"reply": "On it"}).status_code == 200

    answer(analyst, "a", timedelta(minutes=10))
    answer(analyst, "b", timedelta(minutes=30))
    answer(admin, "c", timedelta(minutes=50))
    answer(analyst, "d", timedelta(hours=2))
    answer(admin, "late", timedelta(days=3))  # answered outside the range asked for below
    # A reopened item answered again keeps its first response time and responder.
    _at(monkeypatch, T0 + timedelta(hours=3))
    admin.post(f"/api/v1/inbox/{made['a'].pk}/reopen")
    answer(admin, "a", timedelta(hours=4))
    _at(monkeypatch, T0 + timedelta(hours=5))
    admin.post(f"/api/v1/inbox/{made['waiting'].pk}/assign", {"assignee": world.users["a_analyst"].pk})

    stats = analyst.get(
        "/api/v1/inbox/stats", {"since": "2026-11-20T00:00:00Z", "until": "2026-11-21T00:00:00Z"}
    ).json()
    # Overall: 600, 1800, 3000, 7200 s. percentile_cont interpolates between ranks.
    assert stats["overall"] == {
        "count": 4,
        "median_s": 2400.0,
        "p90_s": pytest.approx(3000 + 0.7 * 4200),
        "within_target": 3,
        "within_target_share": 0.75,
    }
    assert stats["target_s"] == 3600
    members = {m["user_id"]: m for m in stats["members"]}
    mine = members[world.users["a_analyst"].pk]
    assert mine["times"]["count"] == 3 and mine["times"]["median_s"] == 1800.0
    assert mine["times"]["p90_s"] == pytest.approx(1800 + 0.8 * 5400)
    assert mine["times"]["within_target_share"] == pytest.approx(2 / 3)
    assert mine["waiting"] == 1 and mine["name"] == "A analyst"
    theirs = members[world.users["a_admin"].pk]["times"]
    assert theirs["count"] == 1 and theirs["median_s"] == 3000.0 and theirs["within_target"] == 1
    assert stats["waiting"] == 2 and stats["waiting_unassigned"] == 1
    assert stats["oldest_waiting_at"] == "2026-11-20T09:00:00Z"

    tighter = analyst.get(
        "/api/v1/inbox/stats",
        {"since": "2026-11-20T00:00:00Z", "until": "2026-11-21T00:00:00Z", "target_minutes": 15},
    ).json()
    assert tighter["overall"]["within_target"] == 1
    later = analyst.get(
        "/api/v1/inbox/stats", {"since": "2026-11-23T00:00:00Z", "until": "2026-11-24T00:00:00Z"}
    )
    assert later.json()["overall"]["count"] == 1 and later.json()["overall"]["median_s"] == 3 * 86400.0


def test_stats_with_nothing_answered(api_for):
    stats = api_for("a_viewer").get("/api/v1/inbox/stats").json()
    assert stats["overall"] == {
        "count": 0,
        "median_s": None,
        "p90_s": None,
        "within_target": 0,
        "within_target_share": None,
    }
    assert stats["members"] == [] and stats["waiting"] == 0 and stats["oldest_waiting_at"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-11-21T00:00:00Z", "until": "2026-11-20T00:00:00Z"}, "until"),
        ({"since": "2024-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "since"),
        ({"target_minutes": "0"}, "target_minutes"),
        ({"until": "soon"}, "until"),
    ],
)
def test_bad_stats_ranges_answer_400(api_for, params, field):
    response = api_for("a_viewer").get("/api/v1/inbox/stats", params)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]


def test_waiting_items_keep_their_status_through_assignment_changes(world, api_for, items):
    api = api_for("a_admin")
    url = f"/api/v1/inbox/{items['outage'].pk}"
    api.post(f"{url}/answer", {"reply": "Fixed, sorry!"})
    moved = api.post(f"{url}/assign", {"assignee": world.users["a_analyst"].pk}).json()
    assert moved["status"] == InboxStatus.ANSWERED  # reassigning a done item does not reopen it


def test_pages_follow_the_ranking_past_the_first_pages_priority_floor(world, api_source, api_for):
    """The first page is read above a priority floor (the waiting bonus is bounded); an old item
    with a lower priority still ranks where its bonus puts it, and the next pages hold the rest."""
    now = timezone.now()
    wanted = {
        "a": (50.0, 0),
        "b": (45.0, 0),
        "f": (44.0, 0),
        "c": (38.0, 24),
        "d": (20.0, 24),
        "e": (10.0, 0),
    }
    with tenant_context(world.a):
        made = {}
        for name, (priority, hours) in wanted.items():
            item = _queued(
                api_source, name, f"Is Acme down? {name}", received_at=now - timedelta(hours=hours)
            )
            InboxItem.objects.filter(pk=item.pk).update(priority=priority)
            made[name] = item.pk
    api = api_for("a_viewer")
    page = api.get("/api/v1/inbox", {"page_size": 2}).json()
    seen = [row["id"] for row in page["results"]]
    while page["next"]:
        page = api.get(page["next"]).json()
        seen += [row["id"] for row in page["results"]]
    # The first page's floor is 44 (the third priority) - 10; c: 38 + 10 (a day waiting) = 48.
    assert seen == [made[k] for k in ("a", "c", "b", "f", "d", "e")]
