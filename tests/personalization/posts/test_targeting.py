"""Segment targeting of scheduled posts: a post's `segment_key` restricts its email recipients to
the members of that segment, always inside the consent gate, the campaign holdout still left out;
an unknown key is refused when the post is written."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from personalization import post_services, publishing
from personalization.models import Segment, SegmentKind, SegmentMembership
from personalization.post_models import CampaignMember, PostSend, PostStatus
from tests.ethics.conftest import record
from tests.personalization.posts.conftest import ACTOR, consenting, scheduled


def email_channel():
    return post_services.publishing_channel_create(
        name="Newsletter", kind="email", consent_purpose="outreach"
    )


def learnt_segment(number, *members):
    segment = Segment.objects.create(kind=SegmentKind.MODEL, number=number, name=f"Segment {number}")
    SegmentMembership.objects.bulk_create(SegmentMembership(segment=segment, contact=c) for c in members)
    return segment


def recipients(post):
    publishing.posts_publish_due()
    return set(PostSend.objects.filter(post=post).values_list("contact_id", flat=True))


def test_a_post_for_a_learnt_segment_goes_only_to_its_consenting_members(tenant, mailoutbox):
    ada, bo, cy = (consenting(f"{n}@example.org") for n in ("ada", "bo", "cy"))
    outsider = consenting("dee@example.org")  # consented, but not in the segment
    segment = learnt_segment(4, ada, bo, cy)
    learnt_segment(5, outsider)
    record(cy, "outreach", action="withdraw")  # a member who withdrew gets nothing
    post = scheduled(email_channel(), segment_key=segment.key)
    assert segment.key == "4"
    assert recipients(post) == {ada.pk, bo.pk}
    for send in PostSend.objects.filter(post=post):
        publishing.post_send_attempt(send_id=send.pk)
    assert sorted(m.to[0] for m in mailoutbox) == ["ada@example.org", "bo@example.org"]


def test_a_rule_segment_and_the_campaign_holdout_together(tenant):
    from personalization.services import segment_rule_create

    people = [consenting(f"p{i}@example.org", language="fr") for i in range(6)]
    for person in people:
        record(person, "personalization")
    english = consenting("en@example.org", language="en")
    record(english, "personalization")
    segment = segment_rule_create(name="French", rules=[{"field": "language", "op": "eq", "value": "fr"}])
    campaign = post_services.campaign_create(
        name="Autumn", consent_purpose="outreach", holdout_fraction=0.5, seed=7
    )
    holdout = set(
        CampaignMember.objects.filter(campaign=campaign, group="holdout").values_list("contact_id", flat=True)
    )
    assert holdout & {p.pk for p in people}  # the seed puts some French contacts in the holdout
    post = scheduled(email_channel(), segment_key=segment.key, campaign=campaign)
    assert segment.key == f"rule:{segment.pk}"
    assert recipients(post) == {p.pk for p in people} - holdout


def test_a_segment_retired_before_the_send_reaches_nobody(tenant):
    ada = consenting("ada@example.org")
    segment = learnt_segment(2, ada)
    post = scheduled(email_channel(), segment_key="2")
    Segment.objects.filter(pk=segment.pk).update(is_active=False)
    assert recipients(post) == set()
    post.refresh_from_db()
    assert post.status == PostStatus.FAILED


def test_everyone_is_the_default_audience(tenant):
    ada, bo = consenting("ada@example.org"), consenting("bo@example.org")
    learnt_segment(1, ada)
    assert recipients(scheduled(email_channel(), segment_key="all")) == {ada.pk, bo.pk}


@pytest.mark.parametrize("key", ["9", "rule:999", "rule:x", "segment-1", "٣"])
def test_an_unknown_segment_key_is_refused_on_create_and_update(tenant, key):
    channel = email_channel()
    learnt_segment(3)
    with pytest.raises(ValidationError) as error:
        post_services.scheduled_post_create(channel=channel, text="Hi", actor=ACTOR, segment_key=key)
    assert "segment_key" in error.value.message_dict
    post = post_services.scheduled_post_create(channel=channel, text="Hi", actor=ACTOR, segment_key="3")
    with pytest.raises(ValidationError) as error:
        post_services.scheduled_post_update(post=post, actor=ACTOR, segment_key=key)
    assert "segment_key" in error.value.message_dict


def test_the_api_answers_400_naming_the_field(api_for):
    api = api_for("a_admin")
    channel = api.post(
        "/api/v1/publishing-channels", {"name": "Newsletter", "kind": "email", "consent_purpose": "outreach"}
    ).json()
    response = api.post("/api/v1/posts", {"channel": channel["id"], "text": "Hi", "segment_key": "77"})
    assert response.status_code == 400 and "segment_key" in response.json()["error"]["fields"]
