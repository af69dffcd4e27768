"""Alerting API: rules, alerts (with evidence, and what people do with them), deliveries,
notifications, quality per rule, and markers for time charts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from listening import selectors
from listening.alert_serializers import (
    AlertDeliverySerializer,
    AlertDetailSerializer,
    AlertFilterSerializer,
    AlertRuleSecretSerializer,
    AlertRuleSerializer,
    AlertRuleUpdateSerializer,
    AlertRuleWriteSerializer,
    AlertSerializer,
    DeliveryFilterSerializer,
    EscalateSerializer,
    MarkerSerializer,
    MarkersInSerializer,
    NotificationSerializer,
    QualityInSerializer,
    RuleQualitySerializer,
    UnreadSerializer,
)
from listening.models import AlertKind, AlertRule, AlertStatus, DeliveryStatus
from listening.services import alert_delivery, alerts
from tenants.access import Access, Capability
from tenants.api.base import TenantApi


def _scope(data: dict[str, Any]) -> dict[str, Any]:
    """Query and source ids to objects of this tenant (another tenant's id is simply not found)."""
    out = dict(data)
    for field, rows in (("query", selectors.query_list()), ("source", selectors.source_list())):
        if out.get(field) is not None:
            found = rows.filter(pk=out[field]).first()
            if found is None:
                raise ValidationError({field: f"No such {field}."})
            out[field] = found
    return out


class AlertRuleApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Alert rules: volume spike against a learned seasonal baseline, negative-share jump, and
    keyword or query triggers; each with a sensitivity (1-10), a cooldown and delivery channels."""

    serializer_class = AlertRuleSerializer
    cursor_ordering = ("name", "id")

    def scoped_queryset(self, access: Access) -> QuerySet[AlertRule]:
        return selectors.alert_rule_list()

    @extend_schema(request=AlertRuleWriteSerializer, responses={201: AlertRuleSecretSerializer})
    def create(self, request: Request) -> Response:
        data = AlertRuleWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        created = alerts.alert_rule_create(**_scope(data.validated_data))
        body = AlertRuleSerializer(created.rule).data
        return Response({**body, "webhook_secret": created.webhook_secret}, status=status.HTTP_201_CREATED)

    @extend_schema(request=AlertRuleUpdateSerializer, responses=AlertRuleSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        data = AlertRuleUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        rule = alerts.alert_rule_update(rule=self.get_object(), **_scope(data.validated_data))
        return Response(AlertRuleSerializer(rule).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        alerts.alert_rule_delete(rule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=AlertRuleSecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str) -> Response:
        """A new secret for the rule's outbound webhook, shown once."""
        rule = self.get_object()
        secret = alerts.alert_rule_rotate_secret(rule=rule)
        return Response({**AlertRuleSerializer(rule).data, "webhook_secret": secret})


ALERT_FILTER_PARAMETERS = [
    OpenApiParameter("status", str, enum=AlertStatus.values),
    OpenApiParameter("rule", int),
    OpenApiParameter("kind", str, enum=AlertKind.values),
    OpenApiParameter("since", str),
    OpenApiParameter("until", str),
]


class AlertApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Fired alerts, newest first: why (expected vs observed), the top evidence by reach, status.
    Acknowledge, dismiss or escalate one (analysts and admins)."""

    serializer_class = AlertSerializer
    cursor_ordering = ("-fired_at", "-id")
    capabilities = {"quality": Capability.VIEW, "markers": Capability.VIEW}

    def scoped_queryset(self, access: Access) -> QuerySet[Any]:
        if self.action == "list":
            data = AlertFilterSerializer(data=self.request.query_params)
            data.is_valid(raise_exception=True)
            v = data.validated_data
            return selectors.alert_list(
                filters=selectors.AlertFilters(
                    status=v.get("status", ""),
                    rule_id=v.get("rule"),
                    kind=v.get("kind", ""),
                    since=v.get("since"),
                    until=v.get("until"),
                )
            )
        return selectors.alert_list(filters=selectors.AlertFilters())

    @extend_schema(parameters=ALERT_FILTER_PARAMETERS)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(responses=AlertDetailSerializer)
    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        alert = selectors.alert_get(alert_id=self.get_object().pk)
        return Response(AlertDetailSerializer(alert, context={"request": request}).data)

    def _answer(self, request: Request, alert: Any) -> Response:
        return Response(
            AlertSerializer(selectors.alert_get(alert_id=alert.pk), context={"request": request}).data
        )

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str) -> Response:
        alert = alerts.alert_acknowledge(alert=self.get_object(), user_id=self.access.user.pk)
        return self._answer(request, alert)

    @extend_schema(request=None, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, pk: str) -> Response:
        alert = alerts.alert_dismiss(alert=self.get_object(), user_id=self.access.user.pk)
        return self._answer(request, alert)

    @extend_schema(request=EscalateSerializer, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def escalate(self, request: Request, pk: str) -> Response:
        """Escalate to an incident (kept as when, who and a note until the crisis app links one)."""
        data = EscalateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        alert = alerts.alert_escalate(
            alert=self.get_object(), user_id=self.access.user.pk, note=data.validated_data["note"]
        )
        return self._answer(request, alert)

    @extend_schema(parameters=[OpenApiParameter("days", int)], responses=RuleQualitySerializer(many=True))
    @action(detail=False, methods=["get"])
    def quality(self, request: Request) -> Response:
        """Per rule and overall: alerts per week and the shares acknowledged, dismissed and
        escalated, over the last `days` (default 28)."""
        data = QualityInSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        until = timezone.now()
        rows = alerts.alert_quality(since=until - timedelta(days=data.validated_data["days"]), until=until)
        return Response(RuleQualitySerializer(rows, many=True).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("since", str, required=True),
            OpenApiParameter("until", str, required=True),
        ],
        responses=MarkerSerializer(many=True),
    )
    @action(detail=False, methods=["get"])
    def markers(self, request: Request) -> Response:
        """Alerts fired in [since, until), oldest first: the markers of the dashboard's charts."""
        data = MarkersInSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        markers = selectors.alert_markers(**data.validated_data)[:1000]
        return Response(MarkerSerializer(markers, many=True).data)


class AlertDeliveryApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """Each channel's delivery of each alert: status, attempts, last error, next retry."""

    serializer_class = AlertDeliverySerializer

    def scoped_queryset(self, access: Access) -> QuerySet[Any]:
        if self.action == "list":
            data = DeliveryFilterSerializer(data=self.request.query_params)
            data.is_valid(raise_exception=True)
            return selectors.alert_delivery_list(
                alert_id=data.validated_data.get("alert"), status=data.validated_data.get("status", "")
            )
        return selectors.alert_delivery_list()

    @extend_schema(
        parameters=[
            OpenApiParameter("alert", int),
            OpenApiParameter("status", str, enum=DeliveryStatus.values),
        ]
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses=AlertDeliverySerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        """Try again now (a delivery that was sent is left alone)."""
        delivery = alert_delivery.alert_delivery_retry(delivery=self.get_object())
        return Response(AlertDeliverySerializer(delivery).data)


class NotificationApi(mixins.ListModelMixin, TenantApi):
    """The caller's in-portal alert notifications (the bell), newest first."""

    serializer_class = NotificationSerializer
    capabilities = {"read": Capability.VIEW, "read_all": Capability.VIEW, "unread": Capability.VIEW}

    def scoped_queryset(self, access: Access) -> QuerySet[Any]:
        return selectors.notification_list(user_id=access.user.pk)

    @extend_schema(responses=UnreadSerializer)
    @action(detail=False, methods=["get"])
    def unread(self, request: Request) -> Response:
        return Response({"unread": selectors.notification_unread_count(user_id=self.access.user.pk)})

    @extend_schema(request=None, responses=UnreadSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str) -> Response:
        notification = self.get_object()
        alerts.notification_read(user_id=self.access.user.pk, notification_id=notification.pk)
        return Response({"unread": selectors.notification_unread_count(user_id=self.access.user.pk)})

    @extend_schema(request=None, responses=UnreadSerializer)
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request: Request) -> Response:
        alerts.notification_read(user_id=self.access.user.pk)
        return Response({"unread": 0})
