"""Model registry API: versions, their cards and audit reports (with exports), activation with an
optional override reason, and the tenant's fairness settings.

Reading needs VIEW (anyone in the tenant: audits are there to be seen); activating a version and
changing the fairness settings need MANAGE (admins and owners), as an override is an admin's call.
"""

from __future__ import annotations

import json

from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from ethics import cards, selectors, services
from ethics.models import ModelVersion
from ethics.serializers import (
    ActivateSerializer,
    ExportSerializer,
    FairnessSettingsSerializer,
    ModelVersionFilterSerializer,
    ModelVersionSerializer,
    RetireSerializer,
)
from tenants.access import Access, Capability
from tenants.api.base import TenantApi

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
        raise ValidationError({"to": ["A card exports as json, markdown or pdf."]})

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
        raise ValidationError({"to": ["An audit exports as json or csv."]})

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
