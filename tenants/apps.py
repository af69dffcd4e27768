from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = "Tenants, identity and access"

    def ready(self) -> None:
        # Registers the OpenAPI descriptions of the authenticators with drf-spectacular.
        from tenants.api import schema  # noqa: F401
