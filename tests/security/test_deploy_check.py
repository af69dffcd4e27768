"""Security misconfiguration (OWASP API8): Django's deployment checklist passes with the production
settings, with no warning at all, and the check is live (DEBUG on is reported)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.conf import settings


def _check_deploy(data_dir: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CANDOR_", "DATABASE_", "CELERY_", "SECRET_KEY", "API_"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "CANDOR_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(64),
            # Never connected to by the check: only its shape matters.
            "DATABASE_URL": "postgres://candor:secret@db.internal:5432/candor",
            "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
            "CANDOR_BASE_DOMAIN": "candor.example",
            "CANDOR_DATA_DIR": str(data_dir),
            **extra,
        }
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_production_settings_pass_the_deployment_checklist_without_a_warning(tmp_path):
    result = _check_deploy(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_checklist_reports_weakened_settings(tmp_path):
    result = _check_deploy(tmp_path, DJANGO_DEBUG="true", SECURE_HSTS_SECONDS="0")
    assert result.returncode != 0
    assert "security.W018" in result.stderr and "security.W004" in result.stderr
