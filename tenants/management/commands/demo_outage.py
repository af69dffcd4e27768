from argparse import ArgumentParser

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from tenants.demo.replay import DEFAULT_SPEED, STORY_MINUTES, replay_start
from tenants.models import Tenant
from tenants.services import tenant_url


class Command(BaseCommand):
    help = (
        "Replay the demo's service outage in a demo tenant, in accelerated time, on the workers: "
        "mentions rise and turn negative, the pipeline (alerts, risk) reacts as to a real one, and the "
        "demo users declare the incident, get a holding statement approved and published, and resolve it."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--tenant", default="acme", help="the demo tenant's slug (default: acme)")
        parser.add_argument(
            "--speed", type=float, default=DEFAULT_SPEED, help="times real time (default: 30)"
        )

    def handle(self, *args: object, **options: object) -> None:
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None or not tenant.is_client:
            raise CommandError(f"no client tenant {options['tenant']!r}")
        speed = float(options["speed"])  # type: ignore[arg-type]
        try:
            with tenant_context(tenant):
                replay = replay_start(slug=tenant.slug, speed=speed)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        minutes = STORY_MINUTES / replay.speed
        self.stdout.write(
            self.style.SUCCESS(
                f"Outage replay started in {tenant.name}: two hours of the story in {minutes:.0f} minutes.\n"
                f"  Watch it on {tenant_url(tenant, '/listening/dashboard/')}"
                f" and {tenant_url(tenant, '/crisis/incidents/')}"
            )
        )
