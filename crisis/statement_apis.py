"""Statements API: an incident's statements (list, draft from a template or by hand, its templates),
one statement (read, edit), its claims checklist, submit, approve, reject, publish, the tone check of
any text (no save, for live feedback) and the tenant's approval settings.

Writes need EDIT; approving, requesting changes and publishing need APPROVE (and the statement's
approver role, checked by the service); the settings need MANAGE. Another tenant's incident or
statement answers 404 (the guarded base class)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crisis import statement_selectors as selectors
from crisis import statement_services as services
from crisis.models import Incident, Statement
from crisis.statement_serializers import (
    ClaimCreateSerializer,
    ClaimsAnswerSerializer,
    ClaimSerializer,
    ClaimVerifySerializer,
    DecisionSerializer,
    PublicationSerializer,
    PublishSerializer,
    StatementCreateSerializer,
    StatementSerializer,
    StatementSettingsSerializer,
    StatementUpdateSerializer,
    SubmitSerializer,
    TemplateSerializer,
    ToneCheckSerializer,
)
from tenants.access import Access, Capability
from tenants.api.base import TenantApi


def _answer(statement_id: int, code: int = status.HTTP_200_OK) -> Response:
    return Response(StatementSerializer(selectors.statement_get(statement_id=statement_id)).data, status=code)


class IncidentStatementApi(mixins.ListModelMixin, TenantApi):
    """The statements of one incident, newest first; POST drafts one (template or by hand)."""

    serializer_class = StatementSerializer
    cursor_ordering = ("-created_at", "-id")
    capabilities = {"templates": Capability.VIEW}

    def _incident(self) -> Incident:
        raw = str(self.kwargs.get("incident_pk", ""))
        return selectors.incident_get(incident_id=int(raw) if raw.isdigit() else 0)

    def scoped_queryset(self, access: Access) -> Any:
        return selectors.statement_list(incident=self._incident())

    @extend_schema(request=StatementCreateSerializer, responses={201: StatementSerializer})
    def create(self, request: Request, incident_pk: str) -> Response:
        data = StatementCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        statement = services.statement_draft(
            incident=self._incident(), access=self.access, **data.validated_data
        )
        return _answer(statement.pk, status.HTTP_201_CREATED)

    @extend_schema(responses=TemplateSerializer(many=True))
    @action(detail=False, methods=["get"])
    def templates(self, request: Request, incident_pk: str) -> Response:
        """The playbook's templates with their variables, the incident's values and what is missing."""
        choices = selectors.statement_templates(incident=self._incident())
        return Response(TemplateSerializer(choices, many=True).data)


class StatementApi(mixins.RetrieveModelMixin, TenantApi):
    """One statement: edit, claims, submit, approve, reject, publish; the tone check; settings."""

    serializer_class = StatementSerializer
    capabilities = {
        "approve": Capability.APPROVE,
        "reject": Capability.APPROVE,
        "publish": Capability.APPROVE,
        "tone_check": Capability.EDIT,
        "approval_settings": Capability.VIEW,
        "claims": Capability.VIEW,
    }

    def required_capability(self) -> Capability:
        if self.action == "approval_settings" and self.request.method == "PATCH":
            return Capability.MANAGE
        if self.action == "claims" and self.request.method == "POST":
            return Capability.EDIT
        return super().required_capability()

    def scoped_queryset(self, access: Access) -> Any:
        return selectors.statement_list()

    def _statement(self) -> Statement:
        statement: Statement = self.get_object()
        return statement

    @extend_schema(request=StatementUpdateSerializer, responses=StatementSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Edit the title or text; new text of a statement in review or approved starts a new version."""
        data = StatementUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        statement = services.statement_update(
            statement=self._statement(), access=self.access, **data.validated_data
        )
        return _answer(statement.pk)

    @extend_schema(methods=["GET"], responses=ClaimsAnswerSerializer)
    @extend_schema(methods=["POST"], request=ClaimCreateSerializer, responses={201: ClaimSerializer})
    @action(detail=True, methods=["get", "post"])
    def claims(self, request: Request, pk: str) -> Response:
        """GET: the checklist and suggested claims (sentences with numbers, times, causes). POST: add one."""
        statement = self._statement()
        if request.method == "POST":
            data = ClaimCreateSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            claim = services.claim_add(
                statement=statement, access=self.access, text=data.validated_data["text"]
            )
            return Response(ClaimSerializer(claim).data, status=status.HTTP_201_CREATED)
        claims = list(statement.claims.all())
        suggested = services.claims_suggest(body=statement.body, known=[c.text for c in claims])
        return Response(ClaimsAnswerSerializer({"claims": claims, "suggested": suggested}).data)

    @extend_schema(request=ClaimVerifySerializer, responses=ClaimSerializer)
    @action(detail=True, methods=["patch"], url_path=r"claims/(?P<claim_pk>[0-9]+)")
    def claim(self, request: Request, pk: str, claim_pk: str) -> Response:
        """Confirm or dispute a claim (with the basis), or set it back to unverified."""
        data = ClaimVerifySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        claim = selectors.claim_get(statement=self._statement(), claim_id=int(claim_pk))
        claim = services.claim_verify(claim=claim, access=self.access, **data.validated_data)
        return Response(ClaimSerializer(claim).data)

    @extend_schema(request=SubmitSerializer, responses=StatementSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request: Request, pk: str) -> Response:
        """To approval (every claim confirmed); defaults from the settings, stricter for SEV1."""
        data = SubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        statement = services.statement_submit(
            statement=self._statement(), access=self.access, **data.validated_data
        )
        return _answer(statement.pk)

    @extend_schema(request=DecisionSerializer, responses=StatementSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        statement = services.statement_decide(
            statement=self._statement(), access=self.access, decision="approved", **data.validated_data
        )
        return _answer(statement.pk)

    @extend_schema(request=DecisionSerializer, responses=StatementSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        """Request changes (a comment is required): back to draft as a new version."""
        data = DecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        statement = services.statement_decide(
            statement=self._statement(), access=self.access, decision="rejected", **data.validated_data
        )
        return _answer(statement.pk)

    @extend_schema(request=PublishSerializer, responses=PublicationSerializer(many=True))
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        """One post per channel, going out now; channels published to already are skipped (201 lists
        the new publications, 200 and [] when there was nothing new to do)."""
        data = PublishSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        made = services.statement_publish(
            statement=self._statement(), access=self.access, channel_ids=data.validated_data["channels"]
        )
        publications = selectors.statement_get(statement_id=int(pk)).publications.all()
        new = [p for p in publications if p.pk in {m.pk for m in made}]
        return Response(
            PublicationSerializer(new, many=True).data,
            status=status.HTTP_201_CREATED if made else status.HTTP_200_OK,
        )

    @extend_schema(request=ToneCheckSerializer, responses=dict)
    @action(detail=False, methods=["post"], url_path="tone-check")
    def tone_check(self, request: Request) -> Response:
        """The tone report of a text, saved nowhere (live feedback while writing)."""
        data = ToneCheckSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident_id = data.validated_data.get("incident")
        incident = selectors.incident_get(incident_id=incident_id) if incident_id else None
        return Response(services.statement_tone(text=data.validated_data["text"], incident=incident))

    @extend_schema(methods=["GET"], responses=StatementSettingsSerializer)
    @extend_schema(
        methods=["PATCH"], request=StatementSettingsSerializer, responses=StatementSettingsSerializer
    )
    @action(detail=False, methods=["get", "patch"], url_path="settings")
    def approval_settings(self, request: Request) -> Response:
        """How statements are approved by default (PATCH: admins)."""
        if request.method == "PATCH":
            data = StatementSettingsSerializer(data=request.data, partial=True)
            data.is_valid(raise_exception=True)
            return Response(
                StatementSettingsSerializer(
                    services.statement_settings_update(access=self.access, **data.validated_data)
                ).data
            )
        return Response(StatementSettingsSerializer(services.statement_settings_get()).data)
