"""Fuzzing the contact importer (RELIABILITY 18, 22): on any bytes, CSV-shaped or NDJSON-shaped, it
creates contacts or reports row problems and otherwise refuses the file with a ValidationError
naming `file` or `format`; it never raises anything else (a 500 at the API), and its memory stays
bounded on the largest file it accepts."""

from __future__ import annotations

import json
import tracemalloc
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django_tenants.utils import tenant_context
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personalization.models import Contact
from personalization.records import IMPORT_MAX_BYTES, contacts_import

FUZZ = settings(
    max_examples=60,
    deadline=timedelta(seconds=5),
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
COLUMNS = ["name", "email", "kind", "language", "region", "time_zone", "handles", "attr.tier", "consent.x"]
cells = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["Ada", "ada@example.org", "press", "en", "UTC", "mastodon:@ada; x:ada", "yes"]),
    st.sampled_from(["=1+1", "\x00", "\ud800", ",", '"']),
)


def _csv(header: list[str], rows: list[list[str]], sep: str) -> bytes:
    lines = [sep.join(header), *(sep.join(json.dumps(c) if sep in c else c for c in row) for row in rows)]
    return "\n".join(lines).encode("utf-8", "surrogatepass")


csv_files = st.builds(
    _csv,
    st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=6),
    st.lists(st.lists(cells, max_size=7), max_size=8),
    st.sampled_from([",", ";", "\t"]),
)
ndjson_lines = st.one_of(
    st.dictionaries(
        st.sampled_from([*COLUMNS, "attributes", "consent"]), json_values | cells, max_size=6
    ).map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=40),
    st.integers(1, 5000).map(lambda n: "[" * n),
    st.integers(1, 5000).map(lambda n: '{"attributes": ' * n),
)
ndjson_files = st.lists(ndjson_lines, max_size=8).map(
    lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")
)


def _import(content: bytes, fmt: str) -> None:
    """One import, in a savepoint so each example starts from the same contacts."""
    sid = transaction.savepoint()
    try:
        try:
            result = contacts_import(content=content, fmt=fmt, actor="fuzz")
        except ValidationError as error:
            assert set(error.message_dict) <= {"file", "format"}, error.message_dict
            return
        assert result.created >= 0 and result.consents_recorded >= 0
        for problem in result.errors:
            assert problem["row"] >= 1 and problem["message"]
        assert Contact.objects.count() >= result.created
    finally:
        transaction.savepoint_rollback(sid)


@pytest.fixture
def in_tenant(world: Any) -> Any:
    with tenant_context(world.a):
        yield


@FUZZ
@given(content=st.binary(max_size=2000) | csv_files, fmt=st.sampled_from(["csv", "ndjson"]))
def test_any_csv_like_file_imports_or_is_refused(in_tenant: Any, content: bytes, fmt: str) -> None:
    _import(content, fmt)


@FUZZ
@given(content=ndjson_files)
def test_any_ndjson_file_imports_or_is_refused(in_tenant: Any, content: bytes) -> None:
    _import(content, "ndjson")


def test_json_nested_past_the_decoder_limit_is_a_row_problem(in_tenant: Any) -> None:
    content = b'{"name": "Ann"}\n' + b"[" * 100_000 + b"\n" + b'{"attributes": ' * 50_000 + b"\n"
    result = contacts_import(content=content, fmt="ndjson", actor="fuzz")
    assert result.created == 1
    assert [(e["row"], e["message"]) for e in result.errors] == [
        (2, "Not JSON: nested too deeply."),
        (3, "Not JSON: nested too deeply."),
    ]


def test_nul_and_lone_surrogates_in_json_strings_are_row_problems(in_tenant: Any) -> None:
    lines = [
        {"name": "Ann"},
        {"name": "B\u0000b"},
        {"name": "Cy", "attributes": {"tier": "g\u0000ld"}},
        {"name": "Dee", "attributes": {"t\ud800": "gold"}},
    ]
    content = "\n".join(json.dumps(line) for line in lines).encode()
    result = contacts_import(content=content, fmt="ndjson", actor="fuzz")
    assert result.created == 1
    assert sorted({e["row"] for e in result.errors}) == [2, 3, 4]


# A fifth of the largest file the importer accepts keeps tracemalloc's tracing affordable; what
# is checked is the ratio of the peak to the file's size, which the size does not change.
HOSTILE_BYTES = IMPORT_MAX_BYTES // 5
HOSTILE = {
    "one huge cell": b"name\n" + b"a" * HOSTILE_BYTES,
    "a cell that never closes its quote": b'name\n"' + b"a" * HOSTILE_BYTES,
    "many tiny rows": b"name\n" + b"a\n" * (HOSTILE_BYTES // 2),
    "one deep NDJSON line": b"[" * HOSTILE_BYTES,
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_memory_is_bounded_on_hostile_files(in_tenant: Any, name: str) -> None:
    """Reading a file costs a small multiple of its size; too many rows are refused as soon as
    they are counted, before they are held (they were all held first: over 100x)."""
    content = HOSTILE[name]
    tracemalloc.start()
    try:
        for fmt in ("csv", "ndjson"):
            try:
                contacts_import(content=content, fmt=fmt, actor="fuzz")
            except ValidationError as error:
                assert set(error.message_dict) <= {"file", "format"}
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(content), f"{name}: {peak / 1e6:.0f} MB for {len(content) / 1e6:.0f} MB"
