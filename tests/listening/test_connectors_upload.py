"""File uploads: sniffing, mapping, streaming rows, formula cells (RELIABILITY 18)."""

from __future__ import annotations

import csv
import gzip
import io
import json
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from listening.connectors.items import PayloadRejected
from listening.connectors.upload import MAX_LINE, csv_safe, read_rows, sniff

FIXTURES = Path(__file__).parent / "fixtures"
NOW = 1_714_555_800.0  # 2024-05-01T09:30:00Z
EXPORT = (FIXTURES / "upload_export.csv").read_bytes()
EXPORT_MAPPING = {
    "external_id": "Post ID",
    "text": "Content",
    "posted_at": "Date",
    "author_handle": "Author",
    "author_followers": "Followers",
    "url": "Link",
    "lang": "Language",
}
SIMPLE = {"text": "text", "posted_at": "date"}


def rows(data: bytes, mapping: dict[str, str] = SIMPLE, fmt: str = "csv", **kwargs: Any) -> list[Any]:
    return list(read_rows(io.BytesIO(data), fmt, mapping, now=NOW, **kwargs))


def test_sniff_a_real_export() -> None:
    preview = sniff(EXPORT[:65536])
    assert (preview.format, preview.delimiter) == ("csv", ",")
    assert preview.columns[0] == "Post ID"  # the BOM is not part of the first name
    assert preview.columns == [
        "Post ID",
        "Content",
        "Date",
        "Author",
        "Followers",
        "Link",
        "Language",
        "Sentiment",
    ]
    assert preview.suggested_mapping == EXPORT_MAPPING
    assert len(preview.sample_rows) == 5
    assert preview.sample_rows[1][1] == 'Multi-line post:\nline two, with a comma\nand "quotes"'


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_sniff_finds_the_delimiter(delimiter: str) -> None:
    lines = [["id", "text", "created_at", "user"], ["1", "hello, world; ok", "2024-05-01T09:00:00Z", "a"]]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(lines * 3)
    preview = sniff(buffer.getvalue().encode())
    assert preview.delimiter == delimiter
    assert preview.columns == lines[0]
    assert preview.suggested_mapping == {
        "external_id": "id",
        "text": "text",
        "posted_at": "created_at",
        "author_handle": "user",
    }


def test_sniff_ndjson() -> None:
    head = (
        b'{"id": "1", "content": "hi", "created_at": 1714554000, "meta": {"a": 1}}\n'
        b'{"id": "2", "extra": true}\n'
        b'{"id": "3", "cont'  # the head ends in the middle of a line
    )
    preview = sniff(head)
    assert preview.format == "ndjson"
    assert preview.columns == ["id", "content", "created_at", "meta", "extra"]
    assert preview.sample_rows[0] == ["1", "hi", "1714554000", '{"a": 1}', ""]
    assert preview.suggested_mapping == {"external_id": "id", "text": "content", "posted_at": "created_at"}


def test_sniff_names_unnamed_and_duplicate_columns() -> None:
    preview = sniff(b"text,,text,date\na,b,c,d\n")
    assert preview.columns == ["text", "column_2", "text_2", "date"]


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../../etc/cron.d/x", "text,date\n" * 1000)
    return buffer.getvalue()


NOT_TEXT = {
    "zip (xlsx)": _zip(),
    "gzip": gzip.compress(b"text,date\n" * 1000),
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF",
    "gif": b"GIF89a\x01\x00\x01\x00",
    "xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100,
    "utf-16": "text,date\n".encode("utf-16"),
    "binary": b"text,date\nabc\x00\x01\x02",
    "elf": b"\x7fELF\x02\x01\x01",
}


@pytest.mark.parametrize("data", NOT_TEXT.values(), ids=NOT_TEXT.keys())
def test_files_that_are_not_text_are_refused_before_parsing(data: bytes) -> None:
    with pytest.raises(PayloadRejected) as caught:
        sniff(data)
    assert caught.value.status == 415
    stream = io.BytesIO(data)
    with pytest.raises(PayloadRejected):
        read_rows(stream, "csv", SIMPLE)  # refused at the call, before any row
    assert stream.tell() <= 64 * 1024  # only the head was read


@pytest.mark.parametrize("data", [b"", b"   \n\n", b'[{"text": "a"}]'])
def test_sniff_refuses_empty_files_and_json_arrays(data: bytes) -> None:
    with pytest.raises(PayloadRejected):
        sniff(data)


def test_read_a_real_export() -> None:
    result = rows(EXPORT, EXPORT_MAPPING)
    numbers = [number for number, _, _ in result]
    assert numbers == [
        2,
        3,
        4,
        5,
        6,
        7,
        8,
        9,
    ]  # spreadsheet rows: header is 1, the quoted newlines stay in row 3
    good = {number: mention for number, mention, errors in result if mention is not None}
    bad = {number: errors for number, mention, errors in result if mention is None}
    assert sorted(good) == [2, 3, 4, 5, 6]
    assert good[2].external_id == "1001"
    assert good[2].author_followers == 1200
    assert good[2].raw == {"Sentiment": "negative"}
    assert good[3].text == 'Multi-line post:\nline two, with a comma\nand "quotes"'
    assert good[3].posted_at == datetime(2024, 5, 1, 7, 5, tzinfo=UTC)
    assert good[5].posted_at == datetime(2024, 5, 1, 9, 10, tzinfo=UTC)  # unix seconds in a cell
    assert good[6].lang_hint == "fr"
    # Formula cells are stored exactly as written: text, never evaluated.
    assert good[4].text == '=HYPERLINK("http://evil.example","click")'
    assert good[5].text == "+cmd|' /C calc'!A0"
    assert good[6].text == "-2+3"
    # Errors name the user's columns.
    assert {(e.index, e.field) for e in bad[7]} == {(7, "Followers"), (7, "Link")}
    assert [(e.index, e.field) for e in bad[8]] == [(8, "Content")]
    assert [(e.index, e.field) for e in bad[9]] == [(9, "Date")]


def test_formula_cells_are_escaped_for_csv_export() -> None:
    texts = [mention.text for _, mention, _ in rows(EXPORT, EXPORT_MAPPING) if mention is not None]
    assert [csv_safe(text) for text in texts[2:]] == [
        '\'=HYPERLINK("http://evil.example","click")',
        "'+cmd|' /C calc'!A0",
        "'-2+3",
    ]
    for cell in ["@SUM(A1:A9)", "\t=1+1", "\r=1+1"]:
        assert csv_safe(cell) == "'" + cell
    for cell in ["plain", "", " =not at the start", "a=b", "'already"]:
        assert csv_safe(cell) == cell


def test_mapping_and_header_problems_are_refused_at_the_call() -> None:
    for mapping, message in [
        ({"text": "Content"}, "posted_at"),
        ({"posted_at": "Date"}, "text"),
        ({"text": "Content", "posted_at": "Date", "sentiment": "Sentiment"}, "unknown field"),
        ({"text": "Body", "posted_at": "Date"}, "no column named 'Body'"),
    ]:
        with pytest.raises(PayloadRejected, match=message):
            read_rows(io.BytesIO(EXPORT), "csv", mapping)
    with pytest.raises(PayloadRejected, match="format"):
        read_rows(io.BytesIO(EXPORT), "xlsx", EXPORT_MAPPING)
    with pytest.raises(PayloadRejected, match="delimiter"):
        read_rows(io.BytesIO(EXPORT), "csv", EXPORT_MAPPING, delimiter=":")
    with pytest.raises(PayloadRejected, match="empty"):
        read_rows(io.BytesIO(b"\n\n"), "csv", SIMPLE)


def test_rows_without_an_id_column_get_a_stable_one() -> None:
    data = b"text,date\nsame,2024-05-01T09:00:00Z\nother,2024-05-01T09:00:00Z\nsame,2024-05-01T09:00:00Z\n"
    first = [m.external_id for _, m, _ in rows(data)]
    again = [m.external_id for _, m, _ in rows(data)]
    assert first == again
    assert first[0] == first[2] != first[1]  # the same row twice is one mention (RELIABILITY 19)


def test_row_problems_do_not_stop_the_file() -> None:
    data = (
        b"text,date\n"
        b"good one,2024-05-01T09:00:00Z\n"
        b"bad \xff\xfe utf8,2024-05-01T09:00:00Z\n"
        b"too,many,cells\n"
        b"\n"
        b"short\n"
        + b'"'
        + b"x" * 200_000
        + b'",2024-05-01T09:00:00Z\n'  # a field over csv's limit
        + b"y" * (MAX_LINE + 10)
        + b"\n"  # a line over the line limit
        + b"nul\x00inside,2024-05-01T09:00:00Z\n"
        b"last good,2024-05-01T09:00:00Z"  # no final newline
    )
    result = rows(data)
    summary = [(number, mention.text if mention else errors[0].message) for number, mention, errors in result]
    assert summary[0] == (2, "good one")
    assert summary[1] == (3, "the row is not valid UTF-8")
    assert summary[2] == (4, "expected 2 cells, found 3")
    assert summary[3] == (6, "expected 2 cells, found 1")  # row 5 was blank
    assert summary[4][1].startswith("the row could not be read")
    assert summary[5][1] == "a line of the row is longer than 1 MiB"
    assert summary[6][1] == "nulinside"
    assert summary[7][1] == "last good"
    assert len(summary) == 8


@pytest.mark.parametrize("delimiter", [";", None])  # None: guessed from the head, as sniff does
def test_other_delimiters_and_crlf(delimiter: str | None) -> None:
    data = b"text;date;mood\r\nhello, world;2024-05-01T09:00:00Z;happy\r\n"
    [(number, mention, errors)] = rows(data, delimiter=delimiter)
    assert (number, errors) == (2, [])
    assert mention.text == "hello, world" and mention.raw == {"mood": "happy"}


def test_ndjson_upload() -> None:
    lines = [
        json.dumps({"id": "n1", "content": "first", "ts": 1714554000, "likes": 4}).encode(),
        b"",
        b"{broken",
        b'["not", "an", "object"]',
        b'{"id": "n5", "content": "caf\xe9", "ts": 1714554000}',
        json.dumps({"id": "n6", "ts": 1714554000}).encode(),
        json.dumps({"id": "n7", "content": "a\u0000b", "ts": "2024-05-01T09:00:00Z", "x": "\ud800"}).encode(),
    ]
    mapping = {"external_id": "id", "text": "content", "posted_at": "ts"}
    result = rows(b"\n".join(lines), mapping, fmt="ndjson")
    summary = [(n, m.external_id if m else (errors[0].field, errors[0].message)) for n, m, errors in result]
    assert summary == [
        (1, "n1"),
        (3, ("", "the line is not valid JSON")),
        (4, ("", "each line must be a JSON object")),
        (5, ("", "the line is not valid UTF-8")),
        (6, ("content", "required: a non-empty string")),
        (7, "n7"),
    ]
    assert result[0][1].raw == {"likes": 4}
    assert result[-1][1].text == "ab"
    assert result[-1][1].raw == {"x": "\ufffd"}


class _GeneratedCsv(io.RawIOBase):
    """A large CSV produced on demand, so the test itself holds none of it."""

    def __init__(self, rows: int) -> None:
        self._rows = iter(range(rows))
        self._pending = b"text,date,note\n"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while len(self._pending) < len(buffer):
            n = next(self._rows, None)
            if n is None:
                break
            self._pending += f'"row {n} says hello, world",{1714554000 + n},{"x" * 60}\n'.encode()
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def test_memory_stays_bounded_while_streaming() -> None:
    stream = io.BufferedReader(_GeneratedCsv(60_000))  # about 6 MB
    tracemalloc.start()
    try:
        count = 0
        iterator: Iterator[Any] = read_rows(stream, "csv", SIMPLE, now=NOW)
        for _, mention, errors in iterator:
            assert mention is not None, errors
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 60_000
    assert peak < 2 * 1024 * 1024
