"""Signed push webhooks: verification (RELIABILITY 11, 12, 14) and the payload."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from listening.connectors import webhook
from listening.connectors.items import PayloadRejected
from listening.connectors.webhook import WebhookRejected, parse_delivery_id, parse_payload, sign, verify

NOW = 1_714_555_800
SECRET = b"whsec_current_0123456789abcdef"
OLD_SECRET = b"whsec_previous_0123456789abcdef"
OTHER_TENANT_SECRET = b"whsec_tenant_b_0123456789abcdef"
BODY = b'{"external_id": "p-1", "text": "Acme is down", "posted_at": "2024-05-01T09:30:00Z"}'
DELIVERY = "0b6c7f4e-4f1b-4c1e-9a57-3f2f0a1d2c9e"


def signed(
    body: bytes = BODY,
    *,
    secret: bytes = SECRET,
    timestamp: int = NOW,
    overrides: dict[str, str | None] | None = None,
) -> dict[str, str]:
    """Headers of a correctly signed delivery, with `overrides` replacing (None: removing) some."""
    headers: dict[str, str | None] = {
        "X-Candor-Timestamp": str(timestamp),
        "X-Candor-Delivery": DELIVERY,
        "X-Candor-Signature": sign(secret, timestamp, body),
        **(overrides or {}),
    }
    return {name: value for name, value in headers.items() if value is not None}


def rejected(
    headers: dict[str, str], body: bytes = BODY, secrets: tuple[bytes, ...] = (SECRET,)
) -> WebhookRejected:
    with pytest.raises(WebhookRejected) as caught:
        verify(headers=headers, body=body, secrets=secrets, now=NOW)
    return caught.value


def test_sign_matches_the_documented_scheme() -> None:
    expected = hmac.new(SECRET, b"1714555800." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, NOW, BODY) == f"v1={expected}"


def test_valid_delivery_is_accepted() -> None:
    verify(headers=signed(), body=BODY, secrets=[SECRET], now=NOW)


def test_header_names_are_case_insensitive() -> None:
    headers = {name.lower(): value for name, value in signed().items()}
    verify(headers=headers, body=BODY, secrets=[SECRET], now=NOW)
    assert parse_delivery_id(headers) == DELIVERY


@pytest.mark.parametrize("header", ["X-Candor-Timestamp", "X-Candor-Signature", "X-Candor-Delivery"])
def test_missing_header(header: str) -> None:
    error = rejected(signed(overrides={header: None}))
    assert (error.code, error.status) == ("missing_header", 400)
    assert header in str(error)
    assert rejected(signed(overrides={header: "  "})).code == "missing_header"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Candor-Timestamp", "abc"),
        ("X-Candor-Timestamp", "-5"),
        ("X-Candor-Timestamp", "1714555800.5"),
        ("X-Candor-Timestamp", "1" * 13),
        ("X-Candor-Signature", "sha256=abcdef"),
        ("X-Candor-Signature", "v1=xyz"),
        ("X-Candor-Signature", "v1=" + "a" * 63),
        ("X-Candor-Signature", "v1=" + "a" * 65),
        ("X-Candor-Signature", "v2=" + "a" * 64),  # no v1 at all
        ("X-Candor-Signature", ",".join(["v1=" + "a" * 64] * 9)),
        ("X-Candor-Signature", "v1 = " + "a" * 64),
        ("X-Candor-Delivery", "has space"),
        ("X-Candor-Delivery", "../../etc/passwd"),
        ("X-Candor-Delivery", "x" * 129),
        ("X-Candor-Delivery", "d\u00e9livery"),
    ],
)
def test_malformed_header(header: str, value: str) -> None:
    error = rejected(signed(overrides={header: value}))
    assert (error.code, error.status) == ("malformed_header", 400)


def test_bad_signature() -> None:
    good = signed()["X-Candor-Signature"]
    flipped = good[:-1] + ("0" if good[-1] != "0" else "1")
    error = rejected(signed(overrides={"X-Candor-Signature": flipped}))
    assert (error.code, error.status) == ("bad_signature", 401)


def test_signature_is_over_the_raw_bytes_not_the_json() -> None:
    document = json.loads(BODY)
    reserialised = json.dumps(document, separators=(",", ":")).encode()
    assert reserialised != BODY and json.loads(reserialised) == document
    assert rejected(signed(BODY), body=reserialised).code == "bad_signature"
    assert rejected(signed(reserialised), body=BODY).code == "bad_signature"


def test_signature_binds_the_timestamp() -> None:
    headers = signed(timestamp=NOW - 10, overrides={"X-Candor-Timestamp": str(NOW)})
    assert rejected(headers).code == "bad_signature"


def test_another_secret_is_refused() -> None:
    assert rejected(signed(secret=OTHER_TENANT_SECRET)).code == "bad_signature"


@pytest.mark.parametrize("skew", [-301, 301, -10_000_000, 10_000_000])
def test_timestamp_outside_the_tolerance_in_both_directions(skew: int) -> None:
    error = rejected(signed(timestamp=NOW + skew))
    assert (error.code, error.status) == ("timestamp_out_of_tolerance", 401)


@pytest.mark.parametrize("skew", [-300, 0, 300])
def test_timestamp_at_the_edge_of_the_tolerance_is_accepted(skew: int) -> None:
    verify(headers=signed(timestamp=NOW + skew), body=BODY, secrets=[SECRET], now=NOW)


def test_tolerance_is_a_parameter() -> None:
    with pytest.raises(WebhookRejected):
        verify(headers=signed(timestamp=NOW - 61), body=BODY, secrets=[SECRET], now=NOW, tolerance_s=60)


def test_rotation_window_accepts_both_secrets_then_only_the_new_one() -> None:
    during = [SECRET, OLD_SECRET]
    verify(headers=signed(secret=SECRET), body=BODY, secrets=during, now=NOW)
    verify(headers=signed(secret=OLD_SECRET), body=BODY, secrets=during, now=NOW)
    assert rejected(signed(secret=OLD_SECRET), secrets=(SECRET,)).code == "bad_signature"
    both = f"{sign(SECRET, NOW, BODY)},{sign(OLD_SECRET, NOW, BODY)}"
    verify(headers=signed(overrides={"X-Candor-Signature": both}), body=BODY, secrets=[SECRET], now=NOW)
    verify(headers=signed(overrides={"X-Candor-Signature": both}), body=BODY, secrets=[OLD_SECRET], now=NOW)


def test_other_signature_schemes_are_ignored() -> None:
    header = f"v0=legacy, v2=c29tZXRoaW5nLWVsc2U=, {sign(SECRET, NOW, BODY)}"
    verify(headers=signed(overrides={"X-Candor-Signature": header}), body=BODY, secrets=[SECRET], now=NOW)


def test_no_secret_refuses_everything() -> None:
    assert rejected(signed(), secrets=()).code == "no_secret"
    assert rejected(signed(secret=b""), secrets=(b"",)).code == "no_secret"


def test_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(webhook.hmac, "compare_digest", recording)
    verify(headers=signed(), body=BODY, secrets=[SECRET, OLD_SECRET], now=NOW)
    assert len(calls) == 2  # every secret is compared, the match does not end the loop early


def test_parse_payload_object_and_array() -> None:
    mentions, errors = parse_payload(BODY, now=NOW)
    assert errors == [] and [m.external_id for m in mentions] == ["p-1"]
    array = json.dumps(
        [
            {"external_id": "a", "text": "one", "posted_at": NOW - 60},
            {"external_id": "b", "posted_at": NOW},
            {"external_id": 7, "text": "three", "posted_at": "2024-05-01T10:00:00+02:00"},
        ]
    ).encode()
    mentions, errors = parse_payload(array, now=NOW)
    assert [m.external_id for m in mentions] == ["a", "7"]
    assert [(e.index, e.field) for e in errors] == [(1, "text")]


@pytest.mark.parametrize(
    "body", [b"", b"not json", b'"a string"', b"42", b"\xff\xfe{}", b"[" * 100_000, b'{"text": NaN}']
)
def test_parse_payload_rejects_unreadable_bodies(body: bytes) -> None:
    with pytest.raises(PayloadRejected):
        parse_payload(body)


def test_parse_payload_limits_the_number_of_items() -> None:
    item = {"external_id": "x", "text": "t", "posted_at": NOW}
    with pytest.raises(PayloadRejected) as caught:
        parse_payload(json.dumps([item] * 1001).encode(), now=NOW)
    assert caught.value.status == 413
    assert len(parse_payload(json.dumps([item] * 1000).encode(), now=NOW)[0]) == 1000
