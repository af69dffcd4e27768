"""Ethics portal pages and the preference page, through the test client: who sees what, the
one-click choices recorded with evidence, CSRF, rate limits, and nothing shown to a bad token."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client, override_settings
from django_tenants.utils import tenant_context

from ethics import selectors, services
from ethics.models import ConsentEvent, DataSubjectRequest, FairnessSettings, ModelStatus, ModelVersion
from ethics.selectors import consent_history, consented_contacts
from ethics.services import preference_token
from tenants.models import AuditAction, AuditEvent
from tests.conftest import World
from tests.ethics.conftest import ONLY_REGION, audited, make_contact, record, register

HOST = "tenant-a.localhost"


@pytest.fixture
def ada(world):
    with tenant_context(world.a):
        contact = make_contact()
        token = preference_token(contact=contact)
    return contact, token


def _csrf(page: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_the_preference_page_shows_every_purpose_and_records_one_click_choices(world, ada):
    contact, token = ada
    client = Client(HTTP_HOST=HOST, enforce_csrf_checks=True, HTTP_USER_AGENT="Firefox/140")
    page = client.get(f"/preferences/{token}/")
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    body = page.content.decode()
    for name in ("Personalization", "Analytics", "Outreach"):
        assert name in body
    assert "We send you news" in body and "ada@example.org" not in body and "Ada" not in body
    granted = client.post(
        f"/preferences/{token}/",
        {"purpose": "outreach", "action": "grant", "csrfmiddlewaretoken": _csrf(body)},
    )
    assert granted.status_code == 302
    after = client.get(f"/preferences/{token}/").content.decode()
    assert "Your consent was given" in after and "Withdraw consent" in after
    client.post(
        f"/preferences/{token}/",
        {"purpose": "outreach", "action": "withdraw", "csrfmiddlewaretoken": _csrf(after)},
    )
    with tenant_context(world.a):
        events = list(consent_history(contact=contact))
        assert [(e.action, e.source, e.actor) for e in events] == [
            ("grant", "preference_page", "subject"),
            ("withdraw", "preference_page", "subject"),
        ]
        assert (
            events[0].evidence.user_agent == "Firefox/140"
            and events[0].evidence.form_id == "preference-page-v1"
        )
        assert events[0].notice.version == 1
        assert contact not in consented_contacts(purpose="outreach")


def test_a_post_without_the_csrf_token_is_refused(world, ada):
    _, token = ada
    client = Client(HTTP_HOST=HOST, enforce_csrf_checks=True)
    response = client.post(f"/preferences/{token}/", {"purpose": "outreach", "action": "grant"})
    assert response.status_code == 403
    with tenant_context(world.a):
        assert ConsentEvent.objects.filter(source="preference_page").count() == 0


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-2] + "xx", lambda t: "nonsense", lambda t: t.replace(":", ":0", 1)]
)
def test_a_bad_token_shows_nothing(world, ada, mangle):
    _, token = ada
    response = Client(HTTP_HOST=HOST).get(f"/preferences/{mangle(token)}/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "not valid" in body and "Outreach" not in body and "ada" not in body.lower().replace("candor", "")


def test_a_token_of_tenant_a_does_not_open_on_tenant_b(world, ada):
    _, token = ada
    assert Client(HTTP_HOST="tenant-b.localhost").get(f"/preferences/{token}/").status_code == 404


def test_an_erased_contact_s_link_stops_working(world, ada):
    contact, token = ada
    with tenant_context(world.a):
        contact.delete()
    assert Client(HTTP_HOST=HOST).get(f"/preferences/{token}/").status_code == 404


@override_settings(ETHICS_PREFERENCE_RATE_PER_MINUTE=3)
def test_the_page_is_rate_limited_per_address(world, ada):
    _, token = ada
    client = Client(HTTP_HOST=HOST)
    assert [client.get(f"/preferences/{token}/").status_code for _ in range(3)] == [200] * 3
    limited = client.get("/preferences/guessing/")
    assert limited.status_code == 429 and limited["Retry-After"] == "60"


def test_the_ethics_pages_render_for_members(api_for, world):
    with tenant_context(world.a):
        contact = make_contact()
        record(contact, "outreach")
    viewer = api_for("a_viewer").client
    for path in (
        "/ethics/",
        "/ethics/ledger/",
        "/ethics/contacts/",
        f"/ethics/contacts/{contact.pk}/",
        "/ethics/retention/",
    ):
        response = viewer.get(path)
        assert response.status_code == 200, path
    history = viewer.get(f"/ethics/contacts/{contact.pk}/").content.decode()
    assert "203.0.113.9" in history and "Outreach" in history
    ledger = viewer.get("/ethics/ledger/").content.decode()
    assert "Not verified yet" in ledger and "Verify now" not in ledger
    assert viewer.post("/ethics/ledger/").status_code == 403
    analyst = api_for("a_analyst").client
    assert analyst.post("/ethics/ledger/").status_code == 302
    assert "A verification is queued" in viewer.get("/ethics/ledger/").content.decode()
    with tenant_context(world.a):
        services.ledger_check_run(check_id=selectors.ledger_checks().get().pk)
    assert "Intact" in viewer.get("/ethics/ledger/").content.decode()
    assert viewer.get("/ethics/requests/").status_code == 403
    assert viewer.post("/ethics/", {"code": "x", "name": "x", "notice_text": "x"}).status_code == 403
    assert "make-link" not in history


def test_an_admin_opens_verifies_and_runs_a_request_in_the_portal(
    api_for, world, django_capture_on_commit_callbacks
):
    with tenant_context(world.a):
        contact = make_contact()
    client = api_for("a_admin").client
    opened = client.post("/ethics/requests/", {"kind": "restriction", "contact": contact.pk})
    assert opened.status_code == 302
    with tenant_context(world.a):
        dsr = DataSubjectRequest.objects.get()
    client.post(f"/ethics/requests/{dsr.pk}/attest/", {"method": "call-back", "note": "Called back."})
    client.post(f"/ethics/requests/{dsr.pk}/run/")
    page = client.get(f"/ethics/requests/{dsr.pk}/").content.decode()
    assert "Completed" in page and 'data-testid="attest"' not in page
    trail = re.findall(r"<td>(received|verified|run|completed)</td>", page.split("Audit trail")[1])
    assert trail == ["received", "verified", "run", "completed"]
    missing = client.post("/ethics/requests/", {"kind": "access", "contact": 99999})
    assert missing.status_code == 200 and "No contact with this number" in missing.content.decode()


def test_tenant_b_members_reach_no_ethics_page_of_a(api_for, world):
    with tenant_context(world.a):
        contact = make_contact()
    b = api_for("b_owner", tenant=world.a).client
    for path in ("/ethics/", f"/ethics/contacts/{contact.pk}/", "/ethics/requests/"):
        assert b.get(path).status_code == 404, path


def test_an_editor_gets_and_emails_a_fresh_preference_link(
    api_for, world, django_capture_on_commit_callbacks
):
    from django.core import mail

    with tenant_context(world.a):
        contact = make_contact()
    api = api_for("a_admin", scope="write")
    with django_capture_on_commit_callbacks(execute=True):
        sent = api.post(f"/api/v1/contacts/{contact.pk}/preference-link", {"send": True}).json()
    assert sent["sent"] is True and sent["url"].startswith("http://tenant-a.localhost/preferences/")
    assert mail.outbox[-1].to == ["ada@example.org"] and sent["url"] in mail.outbox[-1].body
    path = sent["url"].removeprefix("http://tenant-a.localhost")
    assert Client(HTTP_HOST=HOST).get(path).status_code == 200
    assert api.post(f"/api/v1/contacts/{contact.pk}/preference-link", {"send": "maybe"}).status_code == 400


def test_the_notice_recorded_is_the_one_the_page_showed_and_retired_consents_stay_withdrawable(world, ada):
    from ethics.models import Purpose
    from ethics.services import notice_publish

    contact, token = ada
    client = Client(HTTP_HOST=HOST)
    shown = client.get(f"/preferences/{token}/").content.decode()
    assert 'name="notice_version" value="1"' in shown
    with tenant_context(world.a):
        notice_publish(purpose=Purpose.objects.get(code="analytics"), text="A newer text, not yet seen.")
    client.post(f"/preferences/{token}/", {"purpose": "analytics", "action": "grant", "notice_version": "1"})
    with tenant_context(world.a):
        assert consent_history(contact=contact).get().notice.version == 1
        Purpose.objects.filter(code="analytics").update(is_active=False)
    page = client.get(f"/preferences/{token}/").content.decode()
    assert 'data-testid="purpose-analytics"' in page and "Withdraw consent" in page
    client.post(f"/preferences/{token}/", {"purpose": "analytics", "action": "withdraw"})
    with tenant_context(world.a):
        assert [e.action for e in consent_history(contact=contact)] == ["grant", "withdraw"]


REASON = "Accepted by the ethics board on 3 March: the south list is too new to be representative."


@pytest.fixture
def versions(world: World) -> dict[str, ModelVersion]:
    with tenant_context(world.a):
        FairnessSettings.objects.update_or_create(pk=1, defaults={"sensitive_attributes": ONLY_REGION})
        return {"fair": audited(True), "biased": audited(False), "new": register("timing")}


def _client(world: World, key: str, tenant=None) -> Client:
    client = Client(HTTP_HOST=world.host(tenant or world.a))
    client.force_login(world.users[key])
    return client


def test_the_registry_lists_versions_with_their_audit(world, versions) -> None:
    page = _client(world, "a_viewer").get("/ethics/models/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Engagement prediction v2" in html and "Send-time recommendation v1" in html
    assert "failed" in html and "not audited" in html
    rejected = _client(world, "a_viewer").get("/ethics/models/", {"status": "rejected"}).content.decode()
    assert "Engagement prediction v2" in rejected and "Engagement prediction v1" not in rejected


def test_the_audit_page_shows_groups_intervals_and_chart_data(world, versions) -> None:
    page = _client(world, "a_viewer").get(f"/ethics/models/{versions['biased'].pk}/")
    html = page.content.decode()
    assert "region: selection-rate ratio 0.50 is below 0.80 (four-fifths rule)" in html
    assert 'data-testid="audit-table-region"' in html
    charts = json.loads(
        html.split('<script id="audit-charts" type="application/json">')[1].split("</script>")[0]
    )
    assert charts[0]["attribute"] == "region"
    assert charts[0]["line"] == pytest.approx(0.8 * 0.5)
    south = charts[0]["groups"][1]
    assert south["group"] == "south" and south["low"] < 0.25 < south["high"]
    assert "vendor/chart.umd.min.js" in html
    # Viewers read; the activation form is for admins.
    assert 'data-testid="activate-panel"' not in html
    assert "Audit FAILED" not in html  # the card is rendered as HTML, not as raw Markdown
    assert 'data-testid="model-card"' in html


def test_an_unaudited_version_says_so(world, versions) -> None:
    html = _client(world, "a_admin").get(f"/ethics/models/{versions['new'].pk}/").content.decode()
    assert 'data-testid="not-audited"' in html and 'data-testid="activate-panel"' not in html


def test_override_from_the_portal_needs_a_reason(world, versions) -> None:
    admin = _client(world, "a_admin")
    url = f"/ethics/models/{versions['biased'].pk}/activate/"
    refused = admin.post(url, {"override_reason": "because"})
    assert refused.status_code == 200
    assert "write why" in refused.content.decode()
    done = admin.post(url, {"override_reason": REASON})
    assert done.status_code == 302
    with tenant_context(world.a):
        assert ModelVersion.objects.get(pk=versions["biased"].pk).status == ModelStatus.ACTIVE
    assert AuditEvent.objects.filter(tenant=world.a, action=AuditAction.MODEL_AUDIT_OVERRIDDEN).count() == 1
    html = admin.get(done["Location"]).content.decode()
    assert REASON in html and "is now active" in html


@pytest.mark.parametrize("user", ["a_viewer", "a_analyst", "a_approver"])
def test_only_admins_activate(world, versions, user) -> None:
    response = _client(world, user).post(f"/ethics/models/{versions['fair'].pk}/activate/")
    assert response.status_code == 403
    with tenant_context(world.a):
        assert ModelVersion.objects.get(pk=versions["fair"].pk).status == ModelStatus.AUDITED


def test_other_tenants_versions_are_not_found(world, versions) -> None:
    b = _client(world, "b_owner", world.b)
    assert b.get(f"/ethics/models/{versions['fair'].pk}/").status_code == 404
    assert b.post(f"/ethics/models/{versions['fair'].pk}/activate/").status_code == 404
    assert "Engagement" not in b.get("/ethics/models/").content.decode()


def test_fairness_settings_form(world) -> None:
    form = {
        "attributes_text": "age_band birth_year birth_year\nregion field region\n",
        "bounds_text": "30, 50",
        "min_dp_ratio": "0.85",
        "max_eo_difference": "",
        "min_group_size": "50",
        "max_ci_width": "0.3",
        "bootstrap_resamples": "2000",
    }
    assert _client(world, "a_viewer").post("/ethics/fairness/", form).status_code == 403
    admin = _client(world, "a_admin")
    bad = admin.post("/ethics/fairness/", {**form, "attributes_text": "region psychic region"})
    assert "source must be one of" in bad.content.decode()
    bad_bounds = admin.post("/ethics/fairness/", {**form, "bounds_text": "50, 30"})
    assert "increasing whole ages" in bad_bounds.content.decode()
    assert admin.post("/ethics/fairness/", form).status_code == 302
    with tenant_context(world.a):
        saved = FairnessSettings.objects.get(pk=1)
    assert saved.min_dp_ratio == 0.85 and saved.age_band_bounds == [30, 50]
    assert [a["name"] for a in saved.sensitive_attributes] == ["age_band", "region"]
    page = admin.get("/ethics/fairness/").content.decode()
    assert "region field region" in page


def test_an_admin_retires_the_active_version(world, versions) -> None:
    admin = _client(world, "a_admin")
    pk = versions["fair"].pk
    assert admin.post(f"/ethics/models/{pk}/activate/").status_code == 302
    assert 'data-testid="retire-panel"' in admin.get(f"/ethics/models/{pk}/").content.decode()
    assert (
        "This field is required"
        in admin.post(f"/ethics/models/{pk}/retire/", {"reason": ""}).content.decode()
    )
    assert _client(world, "a_viewer").post(f"/ethics/models/{pk}/retire/", {"reason": "x"}).status_code == 403
    done = admin.post(f"/ethics/models/{pk}/retire/", {"reason": "Investigating complaints."})
    assert done.status_code == 302
    assert "none is active now" in admin.get(done["Location"]).content.decode()
    with tenant_context(world.a):
        assert ModelVersion.objects.get(pk=pk).status == ModelStatus.RETIRED
