"""One notion of channel and every send's outcome as engagement: a connector always has its audience
channel (created with it, or the one named); a delivery on any connector is an engagement event of
that channel (per contact for email, per post for public channels); a Mastodon status's favourites,
boosts and replies are fetched back and recorded idempotently."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from personalization import post_services, publishing, tasks
from personalization.models import Channel, EngagementEvent
from personalization.post_models import PostSend
from personalization.services import channel_create
from tests.listening.fixtures.httpd import send as answer
from tests.personalization.posts.conftest import scheduled


def test_a_connector_comes_with_its_audience_channel(tenant, receiver):
    connector = post_services.publishing_channel_create(
        name="Newsletter", kind="email", consent_purpose="outreach"
    )
    assert connector.channel.name == "Newsletter" and connector.channel.kind == "email"
    # An audience channel of that name without a connector is the one used, not a second one.
    existing = channel_create(kind="social", name="Mastodon main", config={})
    linked = post_services.publishing_channel_create(
        name="Mastodon main", kind="mastodon", url=receiver.url("/"), access_token="tok"
    )
    assert linked.channel == existing and Channel.objects.filter(name="Mastodon main").count() == 1


def test_a_connector_cannot_publish_to_a_channel_of_another_kind_or_a_taken_one(tenant):
    sms = channel_create(kind="social", name="Social", config={})
    with pytest.raises(ValidationError) as error:
        post_services.publishing_channel_create(
            name="List", kind="email", consent_purpose="outreach", channel=sms
        )
    assert "channel" in error.value.message_dict
    assert not Channel.objects.filter(name="List").exists()  # nothing half-made
    taken = post_services.publishing_channel_create(name="A", kind="email", consent_purpose="outreach")
    with pytest.raises(ValidationError) as error:
        post_services.publishing_channel_create(
            name="B", kind="email", consent_purpose="outreach", channel=taken.channel
        )
    assert "channel" in error.value.message_dict


def test_the_api_shows_each_side_of_the_link(api_for):
    api = api_for("a_admin")
    connector = api.post(
        "/api/v1/publishing-channels", {"name": "Press list", "kind": "email", "consent_purpose": "outreach"}
    ).json()
    channel = api.get(f"/api/v1/channels/{connector['channel']}").json()
    assert channel["name"] == "Press list" and channel["connector"] == connector["id"]
    too_long = api.post("/api/v1/publishing-channels", {"name": "x" * 101, "kind": "email"})
    assert too_long.status_code == 400 and "name" in too_long.json()["error"]["fields"]


def test_a_webhook_delivery_is_one_channel_event_of_the_post(tenant, receiver):
    connector = post_services.publishing_channel_create(
        name="Status page", kind="webhook", url=receiver.url("/hook"), webhook_secret="s3cret-s3cret-s3cret"
    )
    post = scheduled(connector, tone="calm")
    publishing.posts_publish_due()
    (send,) = PostSend.objects.filter(post=post)
    publishing.post_send_attempt(send_id=send.pk)
    publishing._delivered_event(PostSend.objects.select_related("post__channel").get(pk=send.pk))
    (event,) = EngagementEvent.objects.filter(channel=connector.channel)
    assert event.contact_id is None and event.kind == "delivered"
    assert event.external_id == f"send:{send.idempotency_key}" and event.message.key == f"post:{post.pk}"


class StatusCounts:
    """GET /api/v1/statuses/1 as Mastodon answers it, with counts the test sets."""

    def __init__(self) -> None:
        self.body: dict[str, object] = {
            "id": "1",
            "favourites_count": 0,
            "reblogs_count": 0,
            "replies_count": 0,
        }
        self.status = 200

    def __call__(self, handler) -> None:
        if handler.headers.get("Authorization") != "Bearer tok-123":
            answer(handler, 401, b"{}")
            return
        answer(handler, self.status, json.dumps(self.body).encode(), {"Content-Type": "application/json"})


@pytest.fixture
def delivered_status(tenant, receiver):
    connector = post_services.publishing_channel_create(
        name="Mastodon", kind="mastodon", url=receiver.url("/"), access_token="tok-123"
    )
    post = scheduled(connector)
    publishing.posts_publish_due()
    (send,) = PostSend.objects.filter(post=post)
    assert publishing.post_send_attempt(send_id=send.pk).external_id == "1"
    counts = StatusCounts()
    receiver.routes["/api/v1/statuses/1"] = counts
    return connector, counts


def kinds(channel):
    events = EngagementEvent.objects.filter(channel=channel).exclude(kind="delivered")
    return sorted(events.values_list("kind", flat=True))


def test_mastodon_counts_are_fetched_and_recorded_once(delivered_status):
    connector, counts = delivered_status
    counts.body.update(favourites_count=3, reblogs_count=1, replies_count=2)
    assert tasks.fetch_post_metrics() == 6
    assert kinds(connector.channel) == ["liked"] * 3 + ["replied"] * 2 + ["shared"]
    assert tasks.fetch_post_metrics() == 0  # the same counts again: nothing new
    counts.body.update(favourites_count=5, replies_count=1)  # two more favourites, a reply deleted
    assert tasks.fetch_post_metrics() == 2
    assert kinds(connector.channel).count("liked") == 5
    assert all(e.contact_id is None for e in EngagementEvent.objects.filter(channel=connector.channel))


@pytest.mark.parametrize(
    "change",
    [
        {"favourites_count": True},
        {"favourites_count": -1},
        {"reblogs_count": "7"},
        {"replies_count": 10**9},
        {"id": "2"},
    ],
)
def test_a_bad_answer_records_nothing(delivered_status, change):
    connector, counts = delivered_status
    counts.body.update(favourites_count=1, reblogs_count=1, replies_count=1)
    counts.body.update(change)
    assert tasks.fetch_post_metrics() == 0
    assert kinds(connector.channel) == []


def test_a_deleted_status_or_an_outage_records_nothing(delivered_status):
    _, counts = delivered_status
    counts.body.update(favourites_count=4)
    for status in (404, 503):
        counts.status = status
        assert tasks.fetch_post_metrics() == 0
    counts.status = 200
    assert tasks.fetch_post_metrics() == 4


def test_the_audience_page_shows_which_channels_publish(tenant, api_for):
    post_services.publishing_channel_create(name="Press list", kind="email", consent_purpose="outreach")
    channel_create(kind="social", name="Read only", config={})
    page = api_for("a_viewer").get("/audience/").content.decode()
    assert "Press list" in page and "Email" in page and "engagement only" in page
