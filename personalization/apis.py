"""Personalization API: contacts (the records; processing goes through the consent gate)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from personalization import records
from personalization.models import Contact
from personalization.serializers import ContactSerializer, ContactWriteSerializer
from tenants.access import Access
from tenants.api.base import TenantApi


class ContactApi(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantApi):
    """The audience's contacts: who they are, their handles per network, language, region, time zone."""

    serializer_class = ContactSerializer

    def scoped_queryset(self, access: Access) -> QuerySet[Contact]:
        return records.contact_list()

    @extend_schema(request=ContactWriteSerializer, responses={201: ContactSerializer})
    def create(self, request: Request) -> Response:
        data = ContactWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        contact = records.contact_create(**data.validated_data)
        return Response(
            ContactSerializer(records.contact_get(contact_id=contact.pk)).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=ContactWriteSerializer, responses=ContactSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        data = ContactWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        contact = records.contact_update(contact=self.get_object(), **data.validated_data)
        return Response(ContactSerializer(records.contact_get(contact_id=contact.pk)).data)
