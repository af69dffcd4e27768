"""Secrets at rest (webhook secrets, connector tokens, channel credentials): Fernet-encrypted.

Keys come from `CANDOR_ENCRYPTION_KEYS` (comma-separated Fernet keys, newest first; older keys
still decrypt, so keys can rotate), or, when unset, one key derived from SECRET_KEY. A database
dump alone then reveals no secret.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.db import models


@cache
def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.CANDOR_ENCRYPTION_KEYS if k.strip()]
    if not keys:
        derived = hashlib.sha256(b"candor.encryption:" + settings.SECRET_KEY.encode()).digest()
        keys = [base64.urlsafe_b64encode(derived).decode()]
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as error:
        raise ValueError("a stored secret cannot be decrypted with the configured keys") from error


class EncryptedTextField(models.TextField):
    """A text field stored encrypted; Python code sees the plain value. Not searchable."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        return None if value is None else decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return None if value is None else encrypt(str(value))
