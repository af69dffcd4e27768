"""Writes to the public schema: tenants, members, API tokens and the audit log.

Services check capabilities themselves (an API or page cannot forget to), own their transaction,
and record an audit event for every security-relevant change.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django_tenants.utils import schema_exists

from tenants.access import Access, AgencyAccess, Capability, access_for, agency_access_for
from tenants.http import ClientInfo
from tenants.models import (
    Agency,
    AgencyMembership,
    ApiToken,
    AuditAction,
    AuditEvent,
    Domain,
    Membership,
    Role,
    Tenant,
    TokenScope,
    User,
    slug_validator,
)

logger = logging.getLogger(__name__)

RESERVED_SLUGS = frozenset({"www", "api", "admin", "static", "media", "public", "app", "mail", "status"})
TOKEN_PREFIX = "cnd"  # noqa: S105 - the public prefix of every token, not a secret


def audit_record(
    *,
    action: str,
    actor: User | None = None,
    tenant: Tenant | None = None,
    agency: Agency | None = None,
    target: str = "",
    client: ClientInfo | None = None,
    details: dict[str, object] | None = None,
    actor_label: str = "",
) -> AuditEvent:
    client = client or ClientInfo()
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        actor_label=actor_label or (actor.email if actor else ""),
        tenant=tenant,
        agency=agency,
        target=target[:254],
        ip_address=client.ip_address,
        user_agent=client.user_agent,
        details=details or {},
    )


# Tenants -----------------------------------------------------------------------------------------


def tenant_domain(slug: str) -> str:
    return f"{slug}.{settings.CANDOR_BASE_DOMAIN}"


def tenant_url(tenant: Tenant, path: str = "/") -> str:
    """An absolute URL on the tenant's host, with the scheme and port of CANDOR_PUBLIC_URL."""
    public = urlsplit(settings.CANDOR_PUBLIC_URL)
    port = f":{public.port}" if public.port else ""
    return f"{public.scheme}://{tenant_domain(tenant.slug)}{port}{path}"


def public_tenant_ensure() -> Tenant:
    """The public tenant row and its domain, which route the base domain to the public urlconf."""
    tenant = Tenant.objects.filter(schema_name=settings.PUBLIC_SCHEMA_NAME).first()
    if tenant is None:
        tenant = Tenant(
            schema_name=settings.PUBLIC_SCHEMA_NAME, name="Candor", slug="public", is_client=False
        )
        tenant.save()
    Domain.objects.get_or_create(
        domain=settings.CANDOR_BASE_DOMAIN, defaults={"tenant": tenant, "is_primary": True}
    )
    return tenant


def platform_ensure() -> None:
    """What every installation needs before its first client: public routing and the template."""
    public_tenant_ensure()
    template_tenant_ensure()


def template_tenant_ensure() -> Tenant:
    """The migrated schema new tenants are cloned from; `migrate_schemas` keeps it current."""
    tenant = Tenant.objects.filter(schema_name=settings.TENANT_BASE_SCHEMA).first()
    if tenant is None:
        tenant = Tenant(
            schema_name=settings.TENANT_BASE_SCHEMA, name="Template", slug="tenant-template", is_client=False
        )
        tenant.save(verbosity=0)
    return tenant


def _schema_for_slug(slug: str) -> str:
    return "t_" + slug.replace("-", "_")


def tenant_create(
    *,
    name: str,
    slug: str,
    agency: Agency | None = None,
    actor: User | None = None,
    owner: User | None = None,
    client: ClientInfo | None = None,
) -> Tenant:
    """Create a client company: clone the template schema (well under a second, where running every
    migration takes many), route `<slug>.<base domain>` to it, and make `owner` its owner."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A name is required."})
    try:
        slug_validator(slug)
    except ValidationError as error:
        raise ValidationError({"slug": error.messages}) from error
    if slug in RESERVED_SLUGS:
        raise ValidationError({"slug": f"'{slug}' is reserved."})
    schema_name = _schema_for_slug(slug)
    if Tenant.objects.filter(slug=slug).exists() or schema_exists(schema_name):
        raise ValidationError({"slug": f"'{slug}' is already taken."})
    template_tenant_ensure()
    with transaction.atomic():
        tenant = Tenant(schema_name=schema_name, name=name, slug=slug, agency=agency)
        tenant.save(verbosity=0)
        Domain.objects.create(domain=tenant_domain(slug), tenant=tenant, is_primary=True)
        if owner is not None:
            Membership.objects.create(user=owner, tenant=tenant, role=Role.OWNER)
        audit_record(
            action=AuditAction.TENANT_CREATED,
            actor=actor,
            tenant=tenant,
            agency=agency,
            target=slug,
            client=client,
            details={"name": name},
        )
    logger.info("tenant created: %s (%s)", slug, schema_name)
    return tenant


def tenant_create_for_agency(
    *, access: AgencyAccess, name: str, slug: str, client: ClientInfo | None = None
) -> Tenant:
    if not access.can(Capability.MANAGE):
        raise PermissionDenied("Creating client tenants needs the agency admin role.")
    agency = Agency.objects.get(pk=access.agency_id)
    return tenant_create(name=name, slug=slug, agency=agency, actor=access.user, client=client)


# Members -----------------------------------------------------------------------------------------


def _require(access: Access, capability: Capability, what: str) -> None:
    if not access.can(capability):
        raise PermissionDenied(f"{what} needs the {capability.value} permission in this tenant.")


def _owners_left(tenant: Tenant, excluding: Membership) -> int:
    return Membership.objects.filter(tenant=tenant, role=Role.OWNER).exclude(pk=excluding.pk).count()


def _check_role_grant(access: Access, role: str) -> None:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role '{role}'. Choose one of: {', '.join(Role.values)}."})
    if role == Role.OWNER:
        _require(access, Capability.OWN, "Granting the owner role")


def user_invite(
    *, email: str, full_name: str = "", invited_by: User, client: ClientInfo | None = None
) -> User:
    """The user with this email, created without a password if new, with a link to choose one."""
    email = email.strip().lower()
    user = User.objects.filter(email=email).first()
    if user is not None:
        return user
    user = User.objects.create_user(email=email, full_name=full_name.strip())
    password_reset_send(email=email, client=client, actor=invited_by)
    return user


def member_add(
    *, access: Access, email: str, role: str, full_name: str = "", client: ClientInfo | None = None
) -> Membership:
    _require(access, Capability.MANAGE, "Adding members")
    _check_role_grant(access, role)
    with transaction.atomic():
        user = user_invite(email=email, full_name=full_name, invited_by=access.user, client=client)
        if Membership.objects.filter(user=user, tenant=access.tenant).exists():
            raise ValidationError({"email": f"{user.email} is already a member of {access.tenant.name}."})
        membership = Membership.objects.create(user=user, tenant=access.tenant, role=role)
        audit_record(
            action=AuditAction.MEMBER_ADDED,
            actor=access.user,
            tenant=access.tenant,
            target=user.email,
            client=client,
            details={"role": role},
        )
    return membership


def member_change_role(
    *, access: Access, membership: Membership, role: str, client: ClientInfo | None = None
) -> Membership:
    _require(access, Capability.MANAGE, "Changing roles")
    _check_role_grant(access, role)
    if membership.role == Role.OWNER and role != Role.OWNER:
        _require(access, Capability.OWN, "Changing an owner's role")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk, tenant=access.tenant)
        if membership.role == role:
            return membership
        if membership.role == Role.OWNER and _owners_left(access.tenant, membership) == 0:
            raise ValidationError({"role": "A tenant keeps at least one owner."})
        previous = membership.role
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            action=AuditAction.ROLE_CHANGED,
            actor=access.user,
            tenant=access.tenant,
            target=membership.user.email,
            client=client,
            details={"from": previous, "to": role},
        )
    return membership


def member_remove(*, access: Access, membership: Membership, client: ClientInfo | None = None) -> None:
    _require(access, Capability.MANAGE, "Removing members")
    if membership.role == Role.OWNER:
        _require(access, Capability.OWN, "Removing an owner")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(pk=membership.pk, tenant=access.tenant)
        if membership.role == Role.OWNER and _owners_left(access.tenant, membership) == 0:
            raise ValidationError({"role": "A tenant keeps at least one owner."})
        email = membership.user.email
        membership.delete()
        # Tokens act for their user: removing the member takes this tenant out of their tokens.
        for token in ApiToken.objects.filter(user_id=membership.user_id, tenants=access.tenant):
            token.tenants.remove(access.tenant)
        audit_record(
            action=AuditAction.MEMBER_REMOVED,
            actor=access.user,
            tenant=access.tenant,
            target=email,
            client=client,
        )


def agency_member_set(*, agency: Agency, user: User, role: str) -> AgencyMembership:
    membership, _ = AgencyMembership.objects.update_or_create(
        agency=agency, user=user, defaults={"role": role}
    )
    return membership


# API tokens --------------------------------------------------------------------------------------


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(
    *,
    user: User,
    name: str,
    scope: str,
    tenants: Iterable[Tenant],
    agency: Agency | None = None,
    expires_at: datetime | None = None,
    client: ClientInfo | None = None,
) -> tuple[ApiToken, str]:
    """A new token acting for `user`; returns it with the only copy of its secret."""
    name = name.strip()
    tenants = list(dict.fromkeys(tenants))
    if not name:
        raise ValidationError({"name": "A name is required."})
    if scope not in TokenScope.values:
        raise ValidationError({"scope": f"Scope must be one of: {', '.join(TokenScope.values)}."})
    if not tenants and agency is None:
        raise ValidationError({"tenants": "Name at least one tenant the token may reach."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    for tenant in tenants:
        access = access_for(user=user, tenant=tenant)
        if access is None or not access.can(Capability.MANAGE):
            raise PermissionDenied(f"Creating a token for {tenant.name} needs the admin role there.")
    if agency is not None:
        agency_access = agency_access_for(user=user, agency_id=agency.pk)
        if agency_access is None or not agency_access.can(Capability.MANAGE):
            raise PermissionDenied("Creating an agency token needs the agency admin role.")
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            name=name,
            prefix=prefix,
            digest=token_digest(raw),
            user=user,
            created_by=user,
            agency=agency,
            scope=scope,
            expires_at=expires_at,
        )
        token.tenants.set(tenants)
        audited: list[Tenant | None] = [*tenants] if tenants else [None]
        for audited_tenant in audited:
            audit_record(
                action=AuditAction.TOKEN_CREATED,
                actor=user,
                tenant=audited_tenant,
                agency=agency,
                target=f"{name} ({prefix})",
                client=client,
                details={"scope": scope},
            )
    return token, raw


def token_revoke(*, access: Access, token: ApiToken, client: ClientInfo | None = None) -> ApiToken:
    """Revoke a token that reaches this tenant: one's own, or any of them for the tenant's admins."""
    if token.user_id != access.user.pk:
        _require(access, Capability.MANAGE, "Revoking another member's token")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        for tenant in token.tenants.all():
            audit_record(
                action=AuditAction.TOKEN_REVOKED,
                actor=access.user,
                tenant=tenant,
                target=str(token),
                client=client,
            )
    return token


class _ResetForm(PasswordResetForm):
    """Django's reset form, also for invited members who have not chosen a password yet."""

    def get_users(self, email: str) -> Iterable[User]:
        return User.objects.filter(email__iexact=email, is_active=True)

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        # The link always points at the public host, whichever host (tenant or public) asked.
        path = reverse(
            "password_reset_confirm",
            urlconf=settings.PUBLIC_SCHEMA_URLCONF,
            kwargs={"uidb64": context["uid"], "token": context["token"]},
        )
        context["reset_url"] = settings.CANDOR_PUBLIC_URL + path
        super().send_mail(
            subject_template_name,
            email_template_name,
            context,
            from_email,
            to_email,
            html_email_template_name,
        )


def password_reset_send(*, email: str, client: ClientInfo | None = None, actor: User | None = None) -> None:
    """Email a link to choose a new password (also how an invited member sets their first one).

    It sends only to an active user with that email and answers the same either way, so the caller
    never learns whether an account exists."""
    form = _ResetForm(data={"email": email})
    if form.is_valid():
        form.save(
            email_template_name="registration/password_reset_email.txt",
            subject_template_name="registration/password_reset_subject.txt",
            domain_override=urlsplit(settings.CANDOR_PUBLIC_URL).netloc,
        )
        audit_record(action=AuditAction.PASSWORD_RESET_REQUESTED, actor=actor, target=email, client=client)
