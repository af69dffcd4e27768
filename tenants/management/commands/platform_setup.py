from django.core.management.base import BaseCommand

from tenants.services import platform_ensure


class Command(BaseCommand):
    help = "Create the public tenant (routing the base domain) and the template schema tenants clone."

    def handle(self, *args: object, **options: object) -> None:
        platform_ensure()
        self.stdout.write(self.style.SUCCESS("public tenant and template schema ready"))
