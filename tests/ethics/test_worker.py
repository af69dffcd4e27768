"""On a real worker: a withdrawal's follow-up task and a data-subject request run end to end
(export, then erasure) in the right tenant, through the API."""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterator

import pytest
from django_tenants.utils import tenant_context

from ethics.models import DataSubjectRequest, DsrStep, LedgerCheck
from ethics.selectors import consent_verify
from personalization.models import Contact
from tenants.services import tenant_domain, token_create
from tests.conftest import Api, World, wait_for


@pytest.fixture
def admin(committed: World) -> Iterator[Api]:
    token, raw = token_create(
        user=committed.users["a_admin"], name="worker", scope="write", tenants=[committed.a]
    )
    yield Api(tenant_domain(committed.a.slug), token=raw)
    token.delete()


def _status(committed: World, dsr_id: int) -> str:
    with tenant_context(committed.a):
        return DataSubjectRequest.objects.get(pk=dsr_id).status


def test_export_and_erasure_run_on_the_worker(celery_worker, committed, admin):
    contact = admin.post(
        "/api/v1/contacts",
        {
            "name": "Wanda Worker",
            "email": "wanda@example.org",
            "handles": [{"network": "x", "handle": "wanda_w"}],
        },
    ).json()
    dsr_ids = []
    try:
        url = f"/api/v1/contacts/{contact['id']}/consents"
        assert admin.post(url, {"purpose": "outreach", "action": "grant"}).status_code == 201
        assert admin.post(url, {"purpose": "outreach", "action": "withdraw"}).status_code == 201
        # This task's own success line: the shared worker log holds other tasks' "succeeded" too.
        done = re.compile(r"ethics\.tasks\.consent_withdrawn\[[^\]]+\] succeeded")
        assert wait_for(lambda: done.search(celery_worker.read_text()) is not None, 60)

        access = admin.post("/api/v1/dsrs", {"kind": "access", "contact": contact["id"]}).json()
        dsr_ids.append(access["id"])
        admin.post(
            f"/api/v1/dsrs/{access['id']}/attest", {"method": "id-document", "note": "Seen in person."}
        )
        assert admin.post(f"/api/v1/dsrs/{access['id']}/run").status_code == 202
        assert wait_for(lambda: _status(committed, access["id"]) == "completed", 90), (
            celery_worker.read_text()[-3000:]
        )
        download = admin.get(f"/api/v1/dsrs/{access['id']}/download")
        bundle = json.loads(
            zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).read("export.json")
        )
        assert bundle["tables"]["personalization.contact"][0]["name"] == "Wanda Worker"

        erase = admin.post("/api/v1/dsrs", {"kind": "erasure", "contact": contact["id"]}).json()
        dsr_ids.append(erase["id"])
        admin.post(f"/api/v1/dsrs/{erase['id']}/attest", {"method": "id-document", "note": "Seen in person."})
        assert admin.post(f"/api/v1/dsrs/{erase['id']}/run").status_code == 202
        assert wait_for(lambda: _status(committed, erase["id"]) == "completed", 90), (
            celery_worker.read_text()[-3000:]
        )
        with tenant_context(committed.a):
            assert not Contact.objects.filter(pk=contact["id"]).exists()
            assert not DataSubjectRequest.objects.get(pk=access["id"]).export_file
            assert consent_verify().ok
        assert admin.get(f"/api/v1/dsrs/{access['id']}/download").status_code == 404
    finally:
        with tenant_context(committed.a):
            for dsr in DataSubjectRequest.objects.filter(pk__in=dsr_ids):
                if dsr.export_file:
                    dsr.export_file.delete(save=False)
            DsrStep.objects.filter(request_id__in=dsr_ids).delete()
            DataSubjectRequest.objects.filter(pk__in=dsr_ids).delete()
            Contact.objects.filter(pk=contact["id"]).delete()


def test_a_ledger_check_asked_through_the_api_runs_on_the_worker(celery_worker, committed, admin):
    queued = admin.post("/api/v1/consent/verify")
    assert queued.status_code == 202

    def finished() -> bool:
        latest = admin.get("/api/v1/consent/verify").json()["results"][0]
        return latest["id"] == queued.json()["id"] and latest["status"] == "intact"

    try:
        assert wait_for(finished, 60), celery_worker.read_text()[-3000:]
    finally:
        with tenant_context(committed.a):
            LedgerCheck.objects.all().delete()
