"""Signed push webhooks: a source's system POSTs mentions to Candor, signed with the source's secret.

Wire format (for senders)
-------------------------
    POST https://<tenant>.<candor host>/<the source's webhook URL>
    Content-Type: application/json
    X-Candor-Timestamp: 1714555800
    X-Candor-Delivery: 0b6c7f4e-4f1b-4c1e-9a57-3f2f0a1d2c9e
    X-Candor-Signature: v1=<64 lower-case hex digits: see below>

    {"external_id": "post-123", "text": "Acme's API is down again", "posted_at": "2024-05-01T09:30:00Z",
     "author": {"handle": "@dana", "name": "Dana", "followers": 1200}, "url": "https://...", "lang": "en"}

* The body is one mention (a JSON object) or an array of at most 1,000; the fields are those of
  `listening.connectors.items` (external_id, text and posted_at are required; other keys are kept).
* `X-Candor-Timestamp`: the time of sending in unix seconds. Deliveries more than 300 seconds
  older or newer than Candor's clock are refused, so keep the sender's clock synchronised (NTP).
* `X-Candor-Delivery`: a unique id for the delivery, 1-128 characters of `A-Z a-z 0-9 . _ : -`
  (a UUID is ideal). Send the SAME id when retrying a delivery: Candor processes an id once and
  acknowledges repeats without storing them again.
* `X-Candor-Signature`: `v1=` and the lower-case hex HMAC-SHA256, keyed with the source's secret,
  of the ASCII timestamp, a full stop, and the raw body bytes exactly as sent:
  `hex(hmac_sha256(secret, b"1714555800." + body))`. Sign the bytes you send: re-serialising the
  JSON (other spacing or key order) changes them and the signature fails. While a secret is being
  rotated, sign with both and send both, comma-separated: `v1=<new>,v1=<old>`. Signatures with
  other prefixes (`v0=`, `v2=`) are ignored, so a future scheme can be rolled out alongside.
* Retry on any 5xx or timeout with exponential back-off, for up to three days, re-signing each
  attempt with a fresh timestamp.

Candor answers 2xx once the mentions are stored; 400 for a missing or malformed header or body; 401
for a signature that does not verify or a timestamp outside the tolerance (RELIABILITY 10-15).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence

from listening.connectors.base import ConnectorError, MentionIn
from listening.connectors.items import ItemError, parse_json_items

TIMESTAMP_HEADER = "X-Candor-Timestamp"
SIGNATURE_HEADER = "X-Candor-Signature"
DELIVERY_HEADER = "X-Candor-Delivery"
TOLERANCE_S = 300
MAX_ITEMS = 1_000
_MAX_SIGNATURES = 8  # bounds the HMAC work one request can ask for
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_DELIVERY = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_SIGNATURE = re.compile(r"v([0-9]{1,3})=([!-~]*)")
_V1_HEX = re.compile(r"[0-9a-f]{64}")


class WebhookRejected(ConnectorError):
    """The delivery is refused before anything is stored. `code` is stable (for logs and
    metrics), the message is safe to send back, `status` is the HTTP answer."""

    _UNAUTHORIZED = frozenset({"bad_signature", "timestamp_out_of_tolerance", "no_secret"})

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = 401 if code in self._UNAUTHORIZED else 400


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The `X-Candor-Signature` value for one secret: `v1=<hex>`."""
    return "v1=" + _digest(secret, str(timestamp).encode("ascii"), body)


def _digest(secret: bytes, timestamp: bytes, body: bytes) -> str:
    return hmac.new(secret, timestamp + b"." + body, hashlib.sha256).hexdigest()


def verify(
    *,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[bytes],
    now: float,
    tolerance_s: int = TOLERANCE_S,
) -> None:
    """Accept the delivery or raise `WebhookRejected`. `secrets` are all the source's currently
    valid secrets (during a rotation, the new and the old one); `body` the raw request bytes."""
    lowered = {name.lower(): value for name, value in headers.items()}
    raw_timestamp = _header(lowered, TIMESTAMP_HEADER)
    if not _TIMESTAMP.fullmatch(raw_timestamp):
        raise WebhookRejected("malformed_header", f"{TIMESTAMP_HEADER} must be unix seconds")
    parse_delivery_id(headers)
    signatures = _v1_signatures(_header(lowered, SIGNATURE_HEADER))
    # Both directions (RELIABILITY 12): an old capture is refused, and so is a timestamp minted
    # for later use.
    if abs(now - int(raw_timestamp)) > tolerance_s:
        raise WebhookRejected(
            "timestamp_out_of_tolerance", f"{TIMESTAMP_HEADER} is too far from the current time"
        )
    keys = [secret for secret in secrets if secret]
    if not keys:
        raise WebhookRejected("no_secret", "the source has no signing secret")
    matched = False
    for secret in keys:
        expected = _digest(secret, raw_timestamp.encode("ascii"), body)
        for candidate in signatures:
            # Constant time, over the raw body bytes (RELIABILITY 11); no early exit either.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookRejected("bad_signature", "the signature does not match")


def parse_delivery_id(headers: Mapping[str, str]) -> str:
    """The `X-Candor-Delivery` id, validated, for the caller's replay table (RELIABILITY 13).
    Raises `WebhookRejected`."""
    value = _header({name.lower(): value for name, value in headers.items()}, DELIVERY_HEADER)
    if not _DELIVERY.fullmatch(value):
        raise WebhookRejected(
            "malformed_header", f"{DELIVERY_HEADER} must be 1-128 characters of A-Z a-z 0-9 . _ : -"
        )
    return value


def _header(lowered: Mapping[str, str], name: str) -> str:
    value = lowered.get(name.lower())
    if value is None or not value.strip():
        raise WebhookRejected("missing_header", f"{name} is missing")
    return value.strip()


def _v1_signatures(value: str) -> list[str]:
    parts = [part.strip() for part in value.split(",")]
    if len(parts) > _MAX_SIGNATURES:
        raise WebhookRejected("malformed_header", f"{SIGNATURE_HEADER} has too many signatures")
    found = []
    for part in parts:
        match = _SIGNATURE.fullmatch(part)
        if match is None:
            raise WebhookRejected("malformed_header", f"{SIGNATURE_HEADER} must be v1=<hex>")
        if match.group(1) == "1":
            digest = match.group(2).lower()
            if not _V1_HEX.fullmatch(digest):
                raise WebhookRejected("malformed_header", f"{SIGNATURE_HEADER} v1 must be 64 hex digits")
            found.append(digest)
    if not found:
        raise WebhookRejected("malformed_header", f"{SIGNATURE_HEADER} has no v1 signature")
    return found


def parse_payload(
    body: bytes, *, max_items: int = MAX_ITEMS, now: float | None = None
) -> tuple[list[MentionIn], list[ItemError]]:
    """The verified body's mentions (a JSON object or an array) and the problems of the invalid
    ones (`ItemError.index` is the position in the array). Raises `PayloadRejected` when the
    body as a whole cannot be read."""
    valid, errors = parse_json_items(body, ndjson=False, max_items=max_items, now=now)
    return [mention for _, mention in valid], errors
