"""Reads of the model registry and fairness settings. Every app loads the model it serves through
`active_model_version`, so a version that has not passed its audit (or been overridden) is never
served."""

from __future__ import annotations

import hashlib

from django.db.models import QuerySet
from django.http import Http404

from ethics.models import FairnessSettings, ModelStatus, ModelVersion


def model_version_list(*, kind: str | None = None, status: str | None = None) -> QuerySet[ModelVersion]:
    versions = ModelVersion.objects.all()
    if kind:
        versions = versions.filter(kind=kind)
    if status:
        versions = versions.filter(status=status)
    return versions


def model_version_get(*, version_id: int) -> ModelVersion:
    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        raise Http404("No such model version.")
    return version


def active_model_version(*, kind: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(kind=kind, status=ModelStatus.ACTIVE).first()


def model_version_artifact(*, version: ModelVersion) -> bytes:
    """The artifact's bytes, checked against the digest taken at registration."""
    with version.artifact.open("rb") as stream:
        data = stream.read()
    if hashlib.sha256(data).hexdigest() != version.artifact_sha256:
        raise ValueError(f"The artifact of {version} does not match its recorded digest.")
    return data


def fairness_settings_get() -> FairnessSettings:
    settings, _ = FairnessSettings.objects.get_or_create(pk=1)
    return settings
