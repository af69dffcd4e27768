"""Agency API on the public host: the portfolio of every client's risk
(`/api/v1/agencies/{id}/portfolio`) and crisis mode across several clients
(`/api/v1/agencies/{id}/crisis-mode/preview|pause|resume`). Agency viewers read; pausing and
resuming need the agency admin role."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from crisis import agency_services, portfolio_selectors
from crisis.agency_serializers import (
    AgencySwitchSerializer,
    ClientOutcomeSerializer,
    ClientsQuerySerializer,
    PortfolioRowSerializer,
)
from tenants.access import AgencyAccess, Capability
from tenants.api.base import AgencyApi
from tenants.models import Tenant
from tenants.services import tenant_url


class AgencyPortfolioApi(mixins.ListModelMixin, AgencyApi):
    """Every client's latest risk (score, band, change over 1 h and 24 h, hourly sparkline of the
    last 24 h), open incidents (count, worst severity, oldest) and crisis mode; riskiest first."""

    serializer_class = PortfolioRowSerializer
    pagination_class = None

    def scoped_queryset(self, access: AgencyAccess) -> QuerySet[Tenant]:
        return portfolio_selectors.portfolio_list(access=access)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        rows = [
            {**portfolio_selectors.portfolio_row(t), "url": tenant_url(t, "/crisis/")}
            for t in portfolio_selectors.portfolio_list(access=self.agency_access)
        ]
        return Response(PortfolioRowSerializer(rows, many=True).data)


def _answer(outcomes: list[agency_services.ClientOutcome]) -> Response:
    return Response(
        {
            "succeeded": sum(1 for o in outcomes if o.ok),
            "failed": sum(1 for o in outcomes if not o.ok),
            "clients": ClientOutcomeSerializer(outcomes, many=True).data,
        }
    )


class AgencyCrisisModeApi(AgencyApi):
    capabilities: ClassVar[dict[str, Capability]] = {
        "preview": Capability.VIEW,
        "pause": Capability.MANAGE,
        "resume": Capability.MANAGE,
    }

    def scoped_queryset(self, access: AgencyAccess) -> QuerySet[Tenant]:
        return portfolio_selectors.portfolio_list(access=access)

    @extend_schema(parameters=[ClientsQuerySerializer], responses=dict)
    @action(detail=False, methods=["get"])
    def preview(self, request: Request, agency_pk: str) -> Response:
        """Per client: crisis mode on already, or the posts a pause would hold."""
        data = ClientsQuerySerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        return _answer(
            agency_services.agency_pause_preview(
                access=self.agency_access, tenant_ids=data.validated_data["tenants"]
            )
        )

    @extend_schema(request=AgencySwitchSerializer, responses=dict)
    @action(detail=False, methods=["post"])
    def pause(self, request: Request, agency_pk: str) -> Response:
        """Crisis mode on in every named client; each client's outcome (a failure does not undo
        the others)."""
        data = AgencySwitchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _answer(
            agency_services.agency_pause(
                access=self.agency_access,
                tenant_ids=data.validated_data["tenants"],
                reason=data.validated_data["reason"],
                client=self.client,
            )
        )

    @extend_schema(request=AgencySwitchSerializer, responses=dict)
    @action(detail=False, methods=["post"])
    def resume(self, request: Request, agency_pk: str) -> Response:
        """Crisis mode off in every named client (held posts released as scheduled; a client with
        a post whose time passed needs its review in the workspace and is reported failed)."""
        data = AgencySwitchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return _answer(
            agency_services.agency_resume(
                access=self.agency_access,
                tenant_ids=data.validated_data["tenants"],
                reason=data.validated_data["reason"],
                client=self.client,
            )
        )
