"""The portal's promise: whatever a member can do in the web portal, an API client can do through
/api/v1/. Every portal view that accepts a POST names the API operations that do the same thing,
through the same service, by their OpenAPI operationId (drf-spectacular's names: the method's verb
after the route, `incidents_create`, `statements_approve_create`):

    @api_equivalent("queries_destroy")
    @require_POST
    @tenant_page(Capability.EDIT)
    def query_delete_view(...): ...

tests/security/test_portal_api_parity.py walks every portal route and fails for a view that takes
a POST without a declaration (or a short, reasoned exception), for an operationId the schema does
not have with a write method, and for a form on a portal page whose target is not declared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

View = TypeVar("View", bound=Callable[..., Any])

ATTRIBUTE = "api_operations"


def api_equivalent(*operation_ids: str) -> Callable[[View], View]:
    """Mark a portal view with the operationIds of the API operations that do what its POST does.
    A view whose POST does one of several things (a step in its URL, a button's value) names each."""
    if not operation_ids or not all(isinstance(name, str) and name for name in operation_ids):
        raise ValueError("api_equivalent needs the operationId of at least one API operation")

    def mark(view: View) -> View:
        # functools.wraps copies a function's __dict__, so the mark survives decorators put above it.
        setattr(view, ATTRIBUTE, tuple(operation_ids))
        return view

    return mark


def api_operations(view: Any) -> tuple[str, ...]:
    """The operationIds a view (a function view, or a class-based view's as_view()) declares."""
    declared = getattr(view, ATTRIBUTE, None) or getattr(getattr(view, "view_class", None), ATTRIBUTE, None)
    return tuple(declared or ())
