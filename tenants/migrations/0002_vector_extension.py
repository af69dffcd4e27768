from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector lives in the public schema (a shared app's migration runs there only), so every
    tenant schema's vector columns resolve the type through search_path."""

    dependencies = [("tenants", "0001_initial")]

    operations = [VectorExtension()]
