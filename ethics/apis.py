"""Ethics API: purposes and notices, consent (record, history, verification), data-subject
requests, retention. Data-subject requests and retention settings are for admins (MANAGE)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import FileResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from ethics import selectors, services
from ethics.models import DataSubjectRequest, Purpose
from ethics.serializers import (
    ConsentBatchResultSerializer,
    ConsentBatchSerializer,
    ConsentEventSerializer,
    ConsentRecordSerializer,
    DsrAttestSerializer,
    DsrCodeSerializer,
    DsrCreateSerializer,
    DsrSerializer,
    NoticeCreateSerializer,
    NoticeSerializer,
    PreferenceLinkOutSerializer,
    PreferenceLinkSerializer,
    PurposeCreateSerializer,
    PurposeSerializer,
    PurposeUpdateSerializer,
    RetentionLineSerializer,
    RetentionPolicySerializer,
    VerificationSerializer,
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


class ConsentVerifyApi(TenantApi):
    """Recompute the ledger's hash chain; report the first broken link, if any."""

    @extend_schema(responses=VerificationSerializer)
    def list(self, request: Request) -> Response:
        result = selectors.consent_verify()
        return Response(VerificationSerializer(result).data)


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
