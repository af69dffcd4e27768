from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.conf import settings
from django_tenants.utils import tenant_context

from ethics.models import FairnessSettings, ModelVersion, Purpose
from ethics.services import Evidence, consent_record, model_version_audit, model_version_register
from personalization.models import Contact
from personalization.records import contact_create
from tests.conftest import World


@pytest.fixture
def in_a(world: World) -> Iterator[World]:
    """Tenant A's schema, inside the test's rolled-back transaction."""
    with tenant_context(world.a):
        yield world


def make_contact(email: str = "ada@example.org", **extra: Any) -> Contact:
    extra.setdefault("handles", [{"network": "mastodon", "handle": "@ada"}])
    return contact_create(name=extra.pop("name", "Ada Lovelace"), email=email, **extra)


def record(contact: Contact, code: str, action: str = "grant", **extra: Any) -> Any:
    extra.setdefault("source", "api")
    extra.setdefault("actor", "user:1")
    extra.setdefault("evidence", Evidence(ip_address="203.0.113.9", user_agent="pytest", form_id="f1"))
    return consent_record(contact=contact, purpose=Purpose.objects.get(code=code), action=action, **extra)


def data_queries(context: Any) -> list[dict[str, str]]:
    """Captured queries without django-tenants' `SET search_path` before each one."""
    return [q for q in context.captured_queries if not q["sql"].startswith("SET search_path")]


ONLY_REGION = [{"name": "region", "source": "field", "key": "region"}]


@pytest.fixture(autouse=True)
def _artifacts_removed(django_db_setup: World) -> Iterator[None]:
    """Artifacts are files: the test's rollback does not remove them."""
    yield
    for tenant in (django_db_setup.a, django_db_setup.b):
        shutil.rmtree(Path(settings.DATA_DIR) / "media" / tenant.schema_name / "models", ignore_errors=True)


def audit_inputs(fair: bool, n: int = 300, seed: int = 7) -> dict[str, Any]:
    """Held-out decisions for regions 'north' and 'south' (n each): equal selection rates (40%)
    when fair, 50% against 25% (ratio 0.5) when not."""
    rng = np.random.default_rng(seed)
    south_rate = 0.40 if fair else 0.25
    north_rate = 0.40 if fair else 0.50
    pred = np.concatenate(
        [
            rng.permutation([1] * round(north_rate * n) + [0] * (n - round(north_rate * n))),
            rng.permutation([1] * round(south_rate * n) + [0] * (n - round(south_rate * n))),
        ]
    )
    return {
        "y_pred": pred.tolist(),
        "y_true": rng.integers(0, 2, 2 * n).tolist(),
        "sensitive": {"region": ["north"] * n + ["south"] * n},
    }


def register(kind: str = "engagement", **extra: Any) -> ModelVersion:
    defaults: dict[str, Any] = {
        "artifact": b"tree\nversion=v4\n" + kind.encode(),
        "trained_by": None,
        "purpose": "Predict which contacts engage with a message.",
        "algorithm": "LightGBM",
        "training_rows": 1200,
        "training_rows_excluded": 34,
        "features": ["segment", "hour_of_week", "tone"],
        "metrics": {"auc": 0.74},
        "limitations": ["Trained on three months of email only."],
    }
    return model_version_register(kind=kind, **{**defaults, **extra})


def audited(fair: bool, kind: str = "engagement", **extra: Any) -> ModelVersion:
    return model_version_audit(version=register(kind, **extra), **audit_inputs(fair))


@pytest.fixture
def region_only(world: World) -> Iterator[World]:
    """Tenant A declares one sensitive attribute, region; tests run inside A's schema."""
    with tenant_context(world.a):
        FairnessSettings.objects.update_or_create(pk=1, defaults={"sensitive_attributes": ONLY_REGION})
        yield world
