"""The ledger's cryptography, pure: canonical JSON, the chained hash, keyed pseudonyms and salted
evidence digests. No ORM here, so the rules are testable on plain values and stated once.

    hash = sha256(prev_hash || canonical_json(event))

Canonical JSON: keys sorted, no spaces, UTF-8, datetimes in UTC ISO 8601 with microseconds. The
first event's prev_hash is GENESIS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def canonical_json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def timestamp(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("ledger timestamps must be timezone-aware")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chain_hash(prev_hash: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical_json(payload)).hexdigest()


def pseudonym(secret: str, subject: str) -> str:
    """HMAC-SHA256 of the contact's uuid under the tenant's ledger key: stable for the contact while
    it exists, unlinkable to anyone once the contact (and its uuid) is erased."""
    return hmac.new(secret.encode(), subject.encode(), hashlib.sha256).hexdigest()


def evidence_digest(salt: str, evidence: dict[str, Any]) -> str:
    """A random salt per event keeps a low-entropy evidence (an IP and a browser) from being
    guessed back from its digest once the salt is erased with the evidence."""
    return hashlib.sha256(salt.encode() + canonical_json(evidence)).hexdigest()


def event_payload(
    *,
    seq: int,
    pseudonym: str,
    purpose: str,
    notice: dict[str, Any] | None,
    action: str,
    lawful_basis: str,
    source: str,
    actor: str,
    occurred_at: datetime,
    evidence_digest: str,
) -> dict[str, Any]:
    """What an event's hash covers: every column except the hashes themselves."""
    return {
        "seq": seq,
        "pseudonym": pseudonym,
        "purpose": purpose,
        "notice": notice,
        "action": action,
        "lawful_basis": lawful_basis,
        "source": source,
        "actor": actor,
        "occurred_at": timestamp(occurred_at),
        "evidence_digest": evidence_digest,
    }
