"""The guarded API base classes. Every API view derives from one of them.

They own authentication, the caller's `Access`, capability checks and object lookup. Subclasses
say what they list through `scoped_queryset(access)` (a selector call) and may not override
`get_queryset`, `get_object` or the permission machinery: `__init_subclass__` refuses it, so a
view cannot forget to scope (the PostHog pattern). A tenant the caller cannot reach, or an object
outside their scope, answers 404; a missing capability 403; missing or bad credentials 401.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.db.models import Model, QuerySet
from django.http import Http404
from rest_framework import exceptions, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

from tenants.access import Access, AgencyAccess, Capability, access_for, agency_access_for
from tenants.http import ClientInfo, client_info
from tenants.models import ApiToken, Tenant

_FINAL = (
    "get_queryset",
    "get_object",
    "initial",
    "get_permissions",
    "check_permissions",
    "check_object_permissions",
    "get_authenticators",
)
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class _GuardedApi(viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated]
    lookup_value_regex = r"[0-9]+"
    # Capability per action; unnamed actions need VIEW when safe and EDIT otherwise.
    capabilities: ClassVar[dict[str, Capability]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__module__ == __name__:
            return
        for name in _FINAL:
            if name in cls.__dict__:
                raise TypeError(
                    f"{cls.__name__} may not override {name}(); implement scoped_queryset(access)"
                )

    def required_capability(self) -> Capability:
        action = getattr(self, "action", None)
        if action in self.capabilities:
            return self.capabilities[action]
        return Capability.VIEW if self.request.method in SAFE_METHODS else Capability.EDIT

    @property
    def token(self) -> ApiToken | None:
        auth = self.request.auth
        return auth if isinstance(auth, ApiToken) else None

    @property
    def client(self) -> ClientInfo:
        return client_info(self.request._request)

    def _schema_queryset(self) -> QuerySet[Any] | None:
        """drf-spectacular inspects views without a request; give it the model, never rows."""
        if not getattr(self, "swagger_fake_view", False):
            return None
        serializer = self.get_serializer_class() if self.serializer_class else None
        model = getattr(getattr(serializer, "Meta", None), "model", Tenant)
        return model.objects.none()

    def get_object(self) -> Any:
        queryset = self.filter_queryset(self.get_queryset())
        lookup = self.kwargs.get(self.lookup_url_kwarg or self.lookup_field)
        if lookup is None or not str(lookup).isdigit():
            raise Http404("Not found")
        obj = queryset.filter(**{self.lookup_field: int(lookup)}).first()
        if obj is None:
            raise Http404("Not found")
        return obj


class TenantApi(_GuardedApi):
    """An API of the tenant the request's host routes to."""

    access: Access

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        tenant = getattr(request._request, "tenant", None)
        access = None
        if isinstance(tenant, Tenant):
            access = access_for(user=request.user, tenant=tenant, token=self.token)  # type: ignore[arg-type]
        if access is None:
            raise exceptions.NotFound("No such tenant.")
        self.access = access
        needed = self.required_capability()
        if not access.can(needed):
            raise exceptions.PermissionDenied(f"This needs the '{needed.value}' permission in this tenant.")

    def get_queryset(self) -> QuerySet[Model]:
        fake = self._schema_queryset()
        return fake if fake is not None else self.scoped_queryset(self.access)

    def scoped_queryset(self, access: Access) -> QuerySet[Any]:
        raise NotImplementedError


class AgencyApi(_GuardedApi):
    """An API of one agency (`agency_pk` in the URL), on the public host."""

    agency_access: AgencyAccess

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        raw = str(kwargs.get("agency_pk", ""))
        access = None
        if raw.isdigit():
            access = agency_access_for(user=request.user, agency_id=int(raw), token=self.token)  # type: ignore[arg-type]
        if access is None:
            raise exceptions.NotFound("No such agency.")
        self.agency_access = access
        needed = self.required_capability()
        if not access.can(needed):
            raise exceptions.PermissionDenied(f"This needs the '{needed.value}' permission in this agency.")

    def get_queryset(self) -> QuerySet[Model]:
        fake = self._schema_queryset()
        return fake if fake is not None else self.scoped_queryset(self.agency_access)

    def scoped_queryset(self, access: AgencyAccess) -> QuerySet[Any]:
        raise NotImplementedError


class AccountApi(_GuardedApi):
    """The caller's own account (`me`): any authenticated caller, no tenant needed."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)

    def get_queryset(self) -> QuerySet[Model]:
        fake = self._schema_queryset()
        if fake is None:
            raise Http404("Not found")
        return fake
