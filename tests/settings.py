"""Test settings: the project's settings on a data folder of their own (embedded PostgreSQL,
file cache, broker folders), so a test run never touches a running `make run`."""

import os
from pathlib import Path

os.environ.setdefault("CANDOR_DATA_DIR", str(Path(__file__).resolve().parent.parent / ".data" / "test"))
os.environ.setdefault("API_TOKEN_RATE", "10000/min")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; production uses PBKDF2
