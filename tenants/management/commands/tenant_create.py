from argparse import ArgumentParser

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from tenants.models import Agency, User
from tenants.services import tenant_create, tenant_url


class Command(BaseCommand):
    help = "Create a client tenant by cloning the template schema."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--slug", required=True, help="subdomain, e.g. 'acme' for acme.localhost")
        parser.add_argument("--agency", help="slug of the agency that manages it")
        parser.add_argument("--owner", help="email of an existing user who becomes its owner")

    def handle(self, *args: object, **options: str) -> None:
        agency = owner = None
        if options["agency"]:
            agency = Agency.objects.filter(slug=options["agency"]).first()
            if agency is None:
                raise CommandError(f"No agency '{options['agency']}'")
        if options["owner"]:
            owner = User.objects.filter(email=options["owner"].lower()).first()
            if owner is None:
                raise CommandError(f"No user '{options['owner']}'")
        try:
            tenant = tenant_create(name=options["name"], slug=options["slug"], agency=agency, owner=owner)
        except ValidationError as error:
            raise CommandError(
                "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            ) from error
        self.stdout.write(
            self.style.SUCCESS(f"{tenant.name}: {tenant_url(tenant)} (schema {tenant.schema_name})")
        )
