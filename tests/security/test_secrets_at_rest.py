"""Secrets at rest: every field that holds a secret (webhook and ledger secrets, connector tokens,
channel credentials) is stored Fernet-encrypted, so a database dump alone reveals none. The walk
covers models added later; the raw-column reads prove the encryption really happens."""

from __future__ import annotations

import re

from django.apps import apps
from django.db import connection, models
from django_tenants.utils import tenant_context

from listening.models import SourceKind
from listening.services.sources import source_create
from tenants.crypto import EncryptedTextField, decrypt

SECRET_NAMES = re.compile(r"secret|token|credential|password|api_key|webhook_url|slack_url")
# Hashed, not encrypted, on purpose: nobody needs them back (Django's password hasher; an API
# token's SHA-256 digest is in `digest`, its public `prefix` finds the row).
HASHED = {("tenants", "user", "password")}
# Only a field that can hold a value is a secret; a secret's timestamps or flags are not.
VALUE_FIELDS = (models.CharField, models.TextField, models.BinaryField, models.JSONField)


def test_every_secret_field_is_encrypted():
    plain = []
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if not getattr(field, "concrete", False) or field.is_relation:
                continue
            key = (model._meta.app_label, model._meta.model_name, field.name)
            if (
                SECRET_NAMES.search(field.name)
                and isinstance(field, VALUE_FIELDS)
                and key not in HASHED
                and not isinstance(field, EncryptedTextField)
            ):
                plain.append(".".join(key))
    assert plain == []


def test_the_walk_finds_the_known_secrets():
    encrypted = {
        f"{model._meta.model_name}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, EncryptedTextField)
    }
    assert {
        "source.secret",
        "alertrule.webhook_secret",
        "channel.credentials",
        "publishingchannel.access_token",
        "ledgerkey.secret",
    } <= encrypted


def test_a_webhook_source_secret_is_ciphertext_in_its_column(world):
    with tenant_context(world.a):
        created = source_create(name="Pushes", kind=SourceKind.WEBHOOK)
        with connection.cursor() as cursor:
            cursor.execute("SELECT secret FROM listening_source WHERE id = %s", [created.source.pk])
            (stored,) = cursor.fetchone()
    assert created.secret and created.secret not in stored
    assert decrypt(stored) == created.secret
