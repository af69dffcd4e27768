from django.core.management.base import BaseCommand
from django.db import transaction
from django_tenants.utils import tenant_context

from tenants.demo.audience import audience_seed
from tenants.demo.companies import LISTENING
from tenants.demo.listening import listening_seed
from tenants.models import Agency, Membership, Role, Tenant, User
from tenants.services import agency_member_set, public_tenant_ensure, tenant_create, tenant_url

# Printed by `make run` for the demo users; never used outside the demo seed.
DEMO_PASSWORD = "candor-demo-2026"  # noqa: S105
AGENCY = ("Northwind Communications", "northwind")
CLIENTS = [
    ("Acme Cloud", "acme", "A cloud hosting provider"),
    ("Globex Software", "globex", "A developer-tools company"),
    ("Initech Security", "initech", "A managed security service"),
]


class Command(BaseCommand):
    help = "Seed the demo: the Northwind agency, three client tenants, and a demo user for each role."

    def handle(self, *args: object, **options: object) -> None:
        public_tenant_ensure()
        agency, _ = Agency.objects.get_or_create(slug=AGENCY[1], defaults={"name": AGENCY[0]})
        tenants = []
        for name, slug, _about in CLIENTS:
            tenant = Tenant.objects.filter(slug=slug).first() or tenant_create(
                name=name, slug=slug, agency=agency
            )
            tenants.append(tenant)
        with transaction.atomic():
            agency_admin = _user("agency@northwind.example", "Nadia Agency")
            agency_member_set(agency=agency, user=agency_admin, role=Role.ADMIN)
            for role in Role.values:
                user = _user(f"{role}@northwind.example", f"Demo {role.title()}")
                for tenant in tenants:
                    Membership.objects.get_or_create(user=user, tenant=tenant, defaults={"role": role})
        for tenant in tenants:
            with tenant_context(tenant):
                stored = listening_seed(LISTENING[tenant.slug])
                contacts = audience_seed(company=LISTENING[tenant.slug].company, tenant=tenant)
            if stored:
                self.stdout.write(f"  {tenant.name}: {stored} past mentions queued for enrichment")
            if contacts:
                self.stdout.write(
                    f"  {tenant.name}: {contacts} contacts with their engagement; training queued"
                )
        self.stdout.write(self.style.SUCCESS("demo ready:"))
        for tenant in tenants:
            self.stdout.write(f"  {tenant.name}: {tenant_url(tenant)}")
        self.stdout.write(
            f"  sign in as owner@northwind.example (or admin@, analyst@, approver@, viewer@,"
            f" agency@) with password {DEMO_PASSWORD}"
        )


def _user(email: str, name: str) -> User:
    user = User.objects.filter(email=email).first()
    if user is None:
        user = User.objects.create_user(email=email, password=DEMO_PASSWORD, full_name=name)
    return user
