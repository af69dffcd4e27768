"""A new tenant's first steps, each checked against what the tenant really has: the overview shows
them until they are all done, so nobody has to guess where to start."""

from __future__ import annotations

from dataclasses import dataclass

from ethics.models import Purpose
from listening.models import AlertRule, Query, Source
from personalization import records
from tenants.access import Access, Capability
from tenants.models import Membership


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    why: str
    url: str
    action: str
    done: bool
    allowed: bool  # whether this member may do it (otherwise: ask an admin)


def onboarding_steps(access: Access) -> list[Step]:
    edit, manage = access.can(Capability.EDIT), access.can(Capability.MANAGE)
    return [
        Step(
            "source",
            "Connect a source",
            "A Mastodon account or hashtag, an RSS feed, a signed webhook, the bulk API or a file upload.",
            "/listening/sources/",
            "Add a source",
            Source.objects.exists(),
            manage,
        ),
        Step(
            "query",
            "Write your first query",
            'Your brand, say: "Acme Cloud" OR @acmecloud. Every stored mention is tagged too.',
            "/listening/queries/",
            "Write a query",
            Query.objects.exists(),
            edit,
        ),
        Step(
            "alerts",
            "Choose what should alert you",
            'A volume spike, a turn to negative, or words like "outage": in the portal, email or Slack.',
            "/listening/alerts/rules/",
            "Set up alerts",
            AlertRule.objects.exists(),
            edit,
        ),
        Step(
            "purposes",
            "Review why you contact people",
            "Consent is asked and kept per purpose, with the notice text each person saw.",
            "/ethics/",
            "Review purposes",
            Purpose.objects.exclude(code__in=DEFAULT_PURPOSES).exists()
            or Purpose.objects.filter(notices__version__gt=1).exists(),
            manage,
        ),
        Step(
            "audience",
            "Import your audience",
            "Contacts from a CSV or NDJSON file or the API, with their handles and consent.",
            "/audience/",
            "Import contacts",
            records.contact_list().exists(),
            edit,
        ),
        Step(
            "members",
            "Invite your team",
            "Analysts write queries, approvers sign off statements, admins manage the workspace.",
            "/settings/members/",
            "Invite members",
            Membership.objects.filter(tenant=access.tenant).count() > 1,
            manage,
        ),
    ]


# The purposes every tenant starts with (ethics' data migration); adding one of its own, or a new
# notice version of one of these, counts as having reviewed them.
DEFAULT_PURPOSES = ("personalization", "analytics", "outreach")
