"""Ethics API: purposes and notices, consent (record, history, verification), data-subject
requests, retention. Data-subject requests and retention settings are for admins (MANAGE)."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.exceptions import ValidationError as BadRequest
from rest_framework.request import Request
from rest_framework.response import Response

from ethics import cards, selectors, services
from ethics.models import DataSubjectRequest, LedgerCheck, ModelVersion, Purpose
from ethics.serializers import (
    ActivateSerializer,
    ConsentBatchResultSerializer,
    ConsentBatchSerializer,
    ConsentEventSerializer,
    ConsentRecordSerializer,
    DsrAttestSerializer,
    DsrCodeSerializer,
    DsrCreateSerializer,
    DsrSerializer,
    ExportSerializer,
    FairnessSettingsSerializer,
    LedgerCheckSerializer,
    ModelVersionFilterSerializer,
    ModelVersionSerializer,
    NoticeCreateSerializer,
    NoticeSerializer,
    PreferenceLinkOutSerializer,
    PreferenceLinkSerializer,
    PurposeCreateSerializer,
    PurposeSerializer,
    PurposeUpdateSerializer,
    RetentionLineSerializer,
    RetentionPolicySerializer,
    RetireSerializer,
)
from personalization import records
from personalization.models import Contact
from tenants.access import Access, Capability
from tenants.api.base import TenantApi
from tenants.api.errors import error_body


def actor_label(access: Access) -> str:
    """Who acted, for the ledger and audit trails: a token or a user, by id (never an email)."""
    if access.token is not None:
        return f"token:{access.token.prefix}"
    return f"user:{access.user.pk}"


class PurposeApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Processing purposes and their versioned notice texts."""

    serializer_class = PurposeSerializer
    cursor_ordering = ("code", "id")
    capabilities = {
        "create": Capability.MANAGE,
        "partial_update": Capability.MANAGE,
        "notices": Capability.VIEW,
        "publish_notice": Capability.MANAGE,
    }

    def scoped_queryset(self, access: Access) -> QuerySet[Purpose]:
        return selectors.purpose_list()

    @extend_schema(request=PurposeCreateSerializer, responses={201: PurposeSerializer})
    def create(self, request: Request) -> Response:
        data = PurposeCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        purpose = services.purpose_create(actor_id=self.access.user.pk, **data.validated_data)
        return Response(
            PurposeSerializer(selectors.purpose_get(purpose_id=purpose.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(request=PurposeUpdateSerializer, responses=PurposeSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        data = PurposeUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        purpose = services.purpose_update(purpose=self.get_object(), **data.validated_data)
        return Response(PurposeSerializer(selectors.purpose_get(purpose_id=purpose.pk)).data)

    @extend_schema(responses=NoticeSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="notices")
    def notices(self, request: Request, pk: str) -> Response:
        """Every version of the purpose's notice, newest first."""
        notices = selectors.notice_list(purpose=self.get_object())
        return Response(NoticeSerializer(notices, many=True).data)

    @extend_schema(request=NoticeCreateSerializer, responses={201: NoticeSerializer})
    @notices.mapping.post
    def publish_notice(self, request: Request, pk: str) -> Response:
        """Publish a new notice version; earlier versions are kept as they were shown."""
        data = NoticeCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        notice = services.notice_publish(
            purpose=self.get_object(), text=data.validated_data["text"], actor_id=self.access.user.pk
        )
        return Response(NoticeSerializer(notice).data, status=status.HTTP_201_CREATED)


class ContactConsentApi(TenantApi):
    """A contact's consents: the ledger history with evidence, current state, recording a grant or
    withdrawal, and the link to their preference page."""

    capabilities = {
        "consents": Capability.VIEW,
        "record": Capability.EDIT,
        "preference_link": Capability.EDIT,
    }

    def scoped_queryset(self, access: Access) -> QuerySet[Contact]:
        return records.contact_list()

    @extend_schema(responses=ConsentEventSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="consents")
    def consents(self, request: Request, pk: str) -> Response:
        contact = self.get_object()
        history = selectors.consent_history(contact=contact)
        return Response(
            {
                "current": sorted(selectors.consent_current(contact=contact)),
                "events": ConsentEventSerializer(history, many=True).data,
            }
        )

    @extend_schema(request=ConsentRecordSerializer, responses={201: ConsentEventSerializer})
    @consents.mapping.post
    def record(self, request: Request, pk: str) -> Response:
        """Record a grant or withdrawal given through your own channels (API or import), with the
        notice version the person was shown (default: the current one)."""
        contact = self.get_object()
        data = ConsentRecordSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        purpose = selectors.purpose_by_code(code=v["purpose"])
        notice = None
        if v.get("notice_version"):
            notice = selectors.notice_list(purpose=purpose).filter(version=v["notice_version"]).first()
            if notice is None:
                return Response(
                    error_body(400, "invalid", "notice_version: no such version of this purpose's notice."),
                    status=400,
                )
        client = self.client
        event = services.consent_record(
            contact=contact,
            purpose=purpose,
            action=v["action"],
            lawful_basis=v["lawful_basis"],
            source=v["source"],
            actor=actor_label(self.access),
            notice=notice,
            evidence=services.Evidence(
                ip_address=client.ip_address, user_agent=client.user_agent, form_id=v["form_id"]
            ),
        )
        return Response(ConsentEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PreferenceLinkSerializer, responses=PreferenceLinkOutSerializer)
    @action(detail=True, methods=["post"], url_path="preference-link")
    def preference_link(self, request: Request, pk: str) -> Response:
        """A signed link to the contact's preference page (no account needed), valid 90 days;
        with `send`, also emailed to the contact."""
        data = PreferenceLinkSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        contact = self.get_object()
        url = request.build_absolute_uri(f"/preferences/{services.preference_token(contact=contact)}/")
        if data.validated_data["send"]:
            services.preference_link_send(contact=contact, url=url)
        return Response({"url": url, "sent": data.validated_data["send"]})


class ConsentBatchApi(TenantApi):
    """Record many grants and withdrawals at once (an import): one transaction, in order."""

    @extend_schema(request=ConsentBatchSerializer, responses={201: ConsentBatchResultSerializer})
    def create(self, request: Request) -> Response:
        """Up to 1,000 events, appended in order; one invalid event refuses the whole batch, and
        the error names it (`events.<index>.<field>`)."""
        data = ConsentBatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        resolved = selectors.consent_entries_resolve(items=v["events"])
        client = self.client
        evidence = services.Evidence(
            ip_address=client.ip_address, user_agent=client.user_agent, form_id=v["form_id"]
        )
        entries = [
            services.ConsentEntry(contact, purpose, item["action"], item["lawful_basis"], notice, evidence)
            for (contact, purpose, notice), item in zip(resolved, v["events"], strict=True)
        ]
        try:
            events = services.consent_record_many(
                entries=entries, source=v["source"], actor=actor_label(self.access)
            )
        except ValidationError as error:
            # The service names entries `entries[i].field`; the API's body calls them events.
            raise ValidationError(
                {
                    key.replace("entries[", "events.").replace("].", "."): value
                    for key, value in error.message_dict.items()
                }
            ) from error
        return Response(
            {"recorded": len(events), "first_seq": events[0].seq, "last_seq": events[-1].seq},
            status=status.HTTP_201_CREATED,
        )


class ConsentVerifyApi(mixins.ListModelMixin, TenantApi):
    """Verifications of the ledger's hash chain, newest first: each says whether the chain was
    intact and, if not, the first broken link. POST queues a new one (a worker recomputes every
    hash; a check already waiting is answered instead of queueing another)."""

    serializer_class = LedgerCheckSerializer
    cursor_ordering = ("-requested_at", "-id")

    def scoped_queryset(self, access: Access) -> QuerySet[LedgerCheck]:
        return selectors.ledger_checks()

    @extend_schema(request=None, responses={202: LedgerCheckSerializer})
    def create(self, request: Request) -> Response:
        check = services.ledger_check_request(actor=self.access.user)
        return Response(LedgerCheckSerializer(check).data, status=status.HTTP_202_ACCEPTED)


def _idempotency_key(request: Request) -> str:
    return request.headers.get("Idempotency-Key", "").strip()[:100]


class DsrApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Data-subject requests: open, verify the person's identity (an emailed code or an admin's
    attestation), run, and download an export. Admins only."""

    serializer_class = DsrSerializer
    capabilities = {
        "list": Capability.MANAGE,
        "retrieve": Capability.MANAGE,
        "create": Capability.MANAGE,
        "send_code": Capability.MANAGE,
        "verify_code": Capability.MANAGE,
        "attest": Capability.MANAGE,
        "run": Capability.MANAGE,
        "download": Capability.MANAGE,
    }

    def scoped_queryset(self, access: Access) -> QuerySet[DataSubjectRequest]:
        return selectors.dsr_list()

    def _answer(self, dsr: DataSubjectRequest, code: int = 200) -> Response:
        return Response(DsrSerializer(selectors.dsr_get(dsr_id=dsr.pk)).data, status=code)

    @extend_schema(
        request=DsrCreateSerializer,
        responses={201: DsrSerializer, 200: DsrSerializer},
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
    )
    def create(self, request: Request) -> Response:
        """Open a request (due in 30 days by default). With an Idempotency-Key header, repeating the
        same request answers the first one (200); another request under the same key is a 409."""
        data = DsrCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        contact = records.contact_get(contact_id=v["contact"]) if v.get("contact") else None
        try:
            created = services.dsr_create(
                kind=v["kind"],
                contact=contact,
                subject_handles=v["subject_handles"],
                changes=dict(v.get("changes") or {}),
                due_days=v["due_days"],
                actor=actor_label(self.access),
                actor_id=self.access.user.pk,
                idempotency_key=_idempotency_key(request),
            )
        except services.IdempotencyConflict as error:
            return Response(error_body(409, "idempotency_conflict", str(error)), status=409)
        return self._answer(created.dsr, 200 if created.replayed else 201)

    @extend_schema(request=None, responses=DsrSerializer)
    @action(detail=True, methods=["post"], url_path="send-code")
    def send_code(self, request: Request, pk: str) -> Response:
        """Email a one-time code to the contact's address on file."""
        return self._answer(services.dsr_send_code(dsr=self.get_object(), actor=actor_label(self.access)))

    @extend_schema(request=DsrCodeSerializer, responses=DsrSerializer)
    @action(detail=True, methods=["post"], url_path="verify-code")
    def verify_code(self, request: Request, pk: str) -> Response:
        data = DsrCodeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dsr = services.dsr_verify_code(
            dsr=self.get_object(), code=data.validated_data["code"], actor=actor_label(self.access)
        )
        return self._answer(dsr)

    @extend_schema(request=DsrAttestSerializer, responses=DsrSerializer)
    @action(detail=True, methods=["post"], url_path="attest")
    def attest(self, request: Request, pk: str) -> Response:
        """Attest that the person's identity was verified another way (method and note are kept)."""
        data = DsrAttestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dsr = services.dsr_attest(
            dsr=self.get_object(), actor=actor_label(self.access), **data.validated_data
        )
        return self._answer(dsr)

    @extend_schema(request=None, responses={202: DsrSerializer, 200: DsrSerializer})
    @action(detail=True, methods=["post"], url_path="run")
    def run(self, request: Request, pk: str) -> Response:
        """Carry out a verified request: exports and erasures run on a worker (202)."""
        dsr = services.dsr_run(dsr=self.get_object(), actor=actor_label(self.access))
        return self._answer(dsr, 202 if dsr.status == "running" else 200)

    @extend_schema(responses={(200, "application/zip"): bytes})
    @action(detail=True, methods=["get"], url_path="download")
    def download(self, request: Request, pk: str) -> FileResponse:
        """The export bundle: `export.json` and one CSV per table, in one zip."""
        dsr = self.get_object()
        if not dsr.export_file:
            raise NotFound("This request has no export (yet).")
        return FileResponse(
            dsr.export_file.open("rb"),
            as_attachment=True,
            filename=f"personal-data-{dsr.pk}.zip",
            content_type="application/zip",
        )


class RetentionApi(TenantApi):
    """Retention periods per kind of data, and what enforcing them now would remove."""

    capabilities = {"policy": Capability.VIEW, "policy_set": Capability.MANAGE, "dry_run": Capability.VIEW}

    @extend_schema(responses=RetentionPolicySerializer)
    @action(detail=False, methods=["get"], url_path="policy")
    def policy(self, request: Request) -> Response:
        return Response({"periods": selectors.retention_policy().periods})

    @extend_schema(request=RetentionPolicySerializer, responses=RetentionPolicySerializer)
    @policy.mapping.put
    def policy_set(self, request: Request) -> Response:
        """Set periods (days per kind; null keeps that kind forever). Kinds left out are unchanged."""
        data = RetentionPolicySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        policy = services.retention_policy_set(
            periods=data.validated_data["periods"], actor_id=self.access.user.pk
        )
        return Response({"periods": policy.periods})

    @extend_schema(responses=RetentionLineSerializer(many=True))
    @action(detail=False, methods=["get"], url_path="dry-run")
    def dry_run(self, request: Request) -> Response:
        lines: list[Any] = selectors.retention_dry_run()
        return Response(RetentionLineSerializer(lines, many=True).data)


EXPORT_TYPES = {
    "json": "application/json",
    "markdown": "text/markdown; charset=utf-8",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
}


def _download(body: str | bytes, to: str, name: str) -> HttpResponse:
    extension = {"markdown": "md"}.get(to, to)
    response = HttpResponse(body, content_type=EXPORT_TYPES[to])
    response["Content-Disposition"] = f'attachment; filename="{name}.{extension}"'
    return response


def _export_param(*choices: str) -> OpenApiParameter:
    return OpenApiParameter("to", str, enum=list(choices), description="Export as (default json)")


class ModelVersionApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Trained model versions of this workspace, newest first."""

    serializer_class = ModelVersionSerializer
    capabilities = {"activate": Capability.MANAGE, "retire": Capability.MANAGE}

    def scoped_queryset(self, access: Access) -> QuerySet[ModelVersion]:
        if self.action != "list":
            return selectors.model_version_list()
        filters = ModelVersionFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        # The card is the biggest column and no list shows it.
        return selectors.model_version_list(**filters.validated_data).defer("card")

    @extend_schema(parameters=[ModelVersionFilterSerializer])
    def list(self, request: Request) -> Response:
        return super().list(request)

    @extend_schema(
        parameters=[_export_param("json", "markdown", "pdf")],
        responses={200: OpenApiResponse(description="The model card")},
    )
    @action(detail=True, methods=["get"])
    def card(self, request: Request, pk: str) -> HttpResponse:
        """The version's model card: purpose, training data, features, metrics, audit, limitations,
        people. `to=markdown` or `to=pdf` downloads it."""
        export = ExportSerializer(data=request.query_params)
        export.is_valid(raise_exception=True)
        to = export.validated_data["to"]
        version = self.get_object()
        name = f"model-card-{version.kind}-v{version.version}"
        if to == "json":
            return Response(version.card)
        if to == "markdown":
            return _download(cards.card_markdown(version.card), to, name)
        if to == "pdf":
            return _download(cards.card_pdf(version.card), to, name)
        raise BadRequest({"to": ["A card exports as json, markdown or pdf."]})

    @extend_schema(
        parameters=[_export_param("json", "csv")],
        responses={200: OpenApiResponse(description="The bias audit report")},
    )
    @action(detail=True, methods=["get"])
    def audit(self, request: Request, pk: str) -> HttpResponse:
        """The full bias audit: per attribute and group, counts, selection and error rates with 95%
        intervals, the summary metrics, failures and warnings. `to=csv` gives one row per group."""
        export = ExportSerializer(data=request.query_params)
        export.is_valid(raise_exception=True)
        to = export.validated_data["to"]
        version = self.get_object()
        if version.audit_report is None:
            raise NotFound("This version has not been audited yet.")
        name = f"bias-audit-{version.kind}-v{version.version}"
        if to == "csv":
            return _download(cards.audit_csv(version.audit_report), to, name)
        if to == "json":
            if "to" in request.query_params:
                return _download(json.dumps(version.audit_report, indent=2), to, name)
            return Response(version.audit_report)
        raise BadRequest({"to": ["An audit exports as json or csv."]})

    @extend_schema(request=ActivateSerializer, responses=ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str) -> Response:
        """Make this version the active one of its kind (the previous one retires). A version that
        failed its bias audit needs `override_reason`; the override is recorded in the audit log."""
        data = ActivateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.model_version_activate(
            version=self.get_object(),
            by=self.access,
            override_reason=data.validated_data.get("override_reason"),
            client=self.client,
        )
        return Response(ModelVersionSerializer(version).data)

    @extend_schema(request=RetireSerializer, responses=ModelVersionSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request: Request, pk: str) -> Response:
        """Take the active version out of service with no successor (a kill switch); the reason
        is recorded in the audit log. Activating any audited version later brings a model back."""
        data = RetireSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.model_version_retire(
            version=self.get_object(),
            by=self.access,
            reason=data.validated_data["reason"],
            client=self.client,
        )
        return Response(ModelVersionSerializer(version).data)


class FairnessSettingsApi(TenantApi):
    """Sensitive attributes the bias audits cover, where each comes from on a contact, and the
    thresholds a model version must meet."""

    serializer_class = FairnessSettingsSerializer
    capabilities = {"partial_update": Capability.MANAGE}

    @extend_schema(responses=FairnessSettingsSerializer)
    def retrieve(self, request: Request) -> Response:
        return Response(FairnessSettingsSerializer(selectors.fairness_settings_get()).data)

    @extend_schema(request=FairnessSettingsSerializer, responses=FairnessSettingsSerializer)
    def partial_update(self, request: Request) -> Response:
        data = FairnessSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        updated = services.fairness_settings_update(access=self.access, **data.validated_data)
        return Response(FairnessSettingsSerializer(updated).data)
