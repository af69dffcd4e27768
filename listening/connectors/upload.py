"""File uploads of mentions: CSV (any of , ; tab |) or NDJSON, with a column mapping chosen by the
user after a preview.

1. `sniff(first bytes)` refuses files that are not text, guesses the format and delimiter, and
   proposes a mapping (Candor field -> column) from the column names;
2. `read_rows(stream, fmt, mapping)` then streams the whole file row by row in bounded memory (one
   physical line is at most 1 MiB, one CSV field at most csv.field_size_limit(), 128 KiB by
   default), yielding each row's mention or its problems: a bad row never stops the import.

Row numbers are what the user sees: for CSV the spreadsheet row (the header is row 1; a quoted
field spanning lines is still one row), for NDJSON the line number (1-based). `ItemError.field` is
the file's column (CSV) or key (NDJSON) that holds the bad value.

Cells are kept as text, never evaluated: a cell such as `=HYPERLINK(...)` is stored as those
characters. When rows go back out in a CSV (the rejected-rows report), pass every cell through
`csv_safe` so a spreadsheet does not run it as a formula (OWASP "CSV Injection", RELIABILITY 18).

Without an `external_id` column, a row's id is a hash of its cells, so uploading the same file twice
stores its mentions once (RELIABILITY 19).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

from listening.connectors.base import MentionIn
from listening.connectors.items import (
    FIELDS,
    ItemError,
    PayloadRejected,
    clean_string,
    clean_tree,
    decode_json,
    mention_from_item,
)

FORMATS = ("csv", "ndjson")
DELIMITERS = (",", ";", "\t", "|")
REQUIRED = ("text", "posted_at")
MAX_LINE = 1024 * 1024
MAX_COLUMNS = 1000
SAMPLE_ROWS = 5
_SNIFF_ROWS = 50
_CHUNK = 64 * 1024
_MAGIC_BYTES = 16
_BOM = b"\xef\xbb\xbf"
# What a file's first bytes say it is, when it is not text (ASVS 5.2.2: check the content, not the
# name). Anything else with a NUL byte near the start is binary too.
_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx file? export it as CSV)"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"PK\x07\x08", "a ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file (.xls? export it as CSV)"),
    (b"\x7fELF", "a program"),
)
_UTF16_OR_32 = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
# Spreadsheets run a cell starting with these as a formula (OWASP CSV Injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NOT_NAME = re.compile(r"[^a-z0-9]+")
# Column names (normalised) that suggest each field, best first.
_SYNONYMS = {
    "external_id": ("external_id", "id", "post_id", "tweet_id", "status_id", "message_id", "guid", "uuid"),
    "text": ("text", "content", "body", "message", "full_text", "tweet", "post", "comment", "description"),
    "posted_at": (
        "posted_at",
        "created_at",
        "date",
        "datetime",
        "timestamp",
        "time",
        "published",
        "published_at",
    ),
    "author_handle": ("author_handle", "handle", "username", "screen_name", "user", "author", "account"),
    "author_name": ("author_name", "name", "display_name", "user_name", "full_name"),
    "author_followers": ("author_followers", "followers", "followers_count", "follower_count"),
    "url": ("url", "link", "permalink", "post_url"),
    "lang": ("lang", "language", "locale"),
}

Row = tuple[int, MentionIn | None, list[ItemError]]


@dataclass(frozen=True, slots=True)
class UploadPreview:
    format: str  # "csv" or "ndjson"
    columns: list[str]
    sample_rows: list[list[str]]  # cells in the order of `columns`
    suggested_mapping: dict[str, str]  # Candor field -> column
    delimiter: str = ","  # for CSV; pass it back to read_rows


def csv_safe(value: str) -> str:
    """A cell for a CSV export that a spreadsheet will show, not run: a leading = + - @ tab or
    carriage return gets a single quote in front (OWASP CSV Injection). Write with csv.writer,
    which quotes separators and quotes."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def sniff(file_head: bytes) -> UploadPreview:
    """The preview for the mapping step, from the file's first bytes (64 KiB is plenty). Raises
    `PayloadRejected` for a file that is not UTF-8 text, is empty, or is a JSON array."""
    _refuse_binary(file_head)
    text = file_head.removeprefix(_BOM).decode("utf-8", "replace")  # a preview: a cut character is fine
    stripped = text.lstrip()
    if not stripped:
        raise PayloadRejected("the file is empty")
    if stripped.startswith("["):
        raise PayloadRejected(
            "a JSON array file is not supported: upload NDJSON or use the bulk API", status=415
        )
    if stripped.startswith("{"):
        return _sniff_ndjson(text)
    return _sniff_csv(text)


def _sniff_csv(text: str) -> UploadPreview:
    candidates = {delimiter: _head_rows(text, delimiter) for delimiter in DELIMITERS}

    def score(delimiter: str) -> tuple[float, int]:
        rows = candidates[delimiter]
        if not rows or len(rows[0]) < 2:
            return (0.0, 0)
        width = len(rows[0])
        return (sum(len(row) == width for row in rows) / len(rows), width)

    delimiter = max(DELIMITERS, key=score)  # ties go to the first, the comma
    rows = candidates[delimiter]
    columns = _column_names(rows[0]) if rows else []
    return UploadPreview(
        format="csv",
        columns=columns,
        sample_rows=rows[1 : SAMPLE_ROWS + 1],
        suggested_mapping=_suggest(columns),
        delimiter=delimiter,
    )


def _head_rows(text: str, delimiter: str) -> list[list[str]]:
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if any(cell.strip() for cell in row):
                rows.append(row)
            if len(rows) >= _SNIFF_ROWS:
                break
    except csv.Error:
        pass  # a field longer than the head: the rows read so far are the preview
    return rows


def _sniff_ndjson(text: str) -> UploadPreview:
    objects: list[dict[str, Any]] = []
    for line in text.split("\n")[:_SNIFF_ROWS]:
        try:
            value = decode_json(line)
        except (ValueError, RecursionError):
            continue  # blank, or the head cut the last line
        if isinstance(value, dict):
            objects.append(value)
    if not objects:
        raise PayloadRejected("the file is neither CSV nor NDJSON (one JSON object per line)", status=415)
    columns = list(dict.fromkeys(key for obj in objects for key in obj))
    _check_width(columns)
    sample = [[_preview_cell(obj.get(column)) for column in columns] for obj in objects[:SAMPLE_ROWS]]
    return UploadPreview("ndjson", columns, sample, _suggest(columns), delimiter="")


def _preview_cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _suggest(columns: list[str]) -> dict[str, str]:
    by_name: dict[str, str] = {}
    for column in columns:
        by_name.setdefault(_NOT_NAME.sub("_", column.lower()).strip("_"), column)
    mapping: dict[str, str] = {}
    for field, names in _SYNONYMS.items():
        for name in names:
            found = by_name.get(name)
            if found is not None and found not in mapping.values():
                mapping[field] = found
                break
    return mapping


def _column_names(header: list[str]) -> list[str]:
    """Header cells as unique, non-empty names (a mapping must name one column)."""
    _check_width(header)
    names: list[str] = []
    taken: set[str] = set()
    for position, cell in enumerate(header, start=1):
        name = clean_string(cell.strip()) or f"column_{position}"
        unique, n = name, 2
        while unique in taken:
            unique, n = f"{name}_{n}", n + 1
        names.append(unique)
        taken.add(unique)
    return names


def _check_width(columns: list[str]) -> None:
    if len(columns) > MAX_COLUMNS:
        raise PayloadRejected(f"the file has more than {MAX_COLUMNS} columns")


def _refuse_binary(head: bytes) -> None:
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise PayloadRejected(f"the file is {what}, not CSV or NDJSON text", status=415)
    if head.startswith(b"BZh") and head[3:4].isdigit():
        raise PayloadRejected("the file is a bzip2 archive, not CSV or NDJSON text", status=415)
    if head.startswith(_UTF16_OR_32):
        raise PayloadRejected("the file is UTF-16 or UTF-32 text: save it as UTF-8", status=415)
    if b"\x00" in head[:8192]:
        raise PayloadRejected("the file is binary, not CSV or NDJSON text", status=415)


def read_rows(
    stream: BinaryIO,
    fmt: str,
    mapping: Mapping[str, str],
    *,
    delimiter: str | None = None,
    now: float | None = None,
) -> Iterator[Row]:
    """(row number, mention or None, problems) for every non-blank row of the file. The format,
    the mapping, the first bytes and (CSV) the header are checked before this returns: those
    raise `PayloadRejected`, rows never do. Without a `delimiter`, the CSV's is guessed from its
    first bytes as `sniff` does. `now` (unix seconds) bounds `posted_at`."""
    if fmt not in FORMATS:
        raise PayloadRejected(f"the format must be one of {', '.join(FORMATS)}")
    if delimiter is not None and delimiter not in DELIMITERS:
        raise PayloadRejected("the delimiter must be one of , ; tab |")
    fields = _checked_mapping(mapping)
    head = b""
    while len(head) < _MAGIC_BYTES and (chunk := stream.read(_CHUNK)):
        head += chunk
    _refuse_binary(head)
    head = head.removeprefix(_BOM)
    if delimiter is None:
        delimiter = _sniff_csv(head.decode("utf-8", "replace")).delimiter
    lines = _physical_lines(stream, head)
    now_ts = time.time() if now is None else now
    if fmt == "ndjson":
        return _ndjson_rows(lines, fields, now_ts)
    records = _csv_records(lines, delimiter)
    columns = _csv_header(records)
    missing = [column for column in fields.values() if column not in columns]
    if missing:
        raise PayloadRejected(f"the file has no column named {missing[0]!r}")
    return _csv_rows(records, columns, fields, now_ts)


def _checked_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    unknown = sorted(set(mapping) - set(FIELDS))
    if unknown:
        raise PayloadRejected(f"unknown field {unknown[0]!r}; the fields are {', '.join(FIELDS)}")
    fields = {field: column for field, column in mapping.items() if isinstance(column, str) and column}
    for field in REQUIRED:
        if field not in fields:
            raise PayloadRejected(f"map a column to {field}")
    return fields


def _physical_lines(stream: BinaryIO, buffer: bytes) -> Iterator[bytes | None]:
    """The stream's lines, newline included, read in chunks; None stands for a line longer than
    MAX_LINE, which is skipped without being held in memory."""
    discarding = False
    while True:
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            yield None if discarding or end + 1 - start > MAX_LINE else buffer[start : end + 1]
            discarding = False
            start = end + 1
        buffer = buffer[start:]
        if discarding or len(buffer) > MAX_LINE:
            discarding, buffer = True, b""
        chunk = stream.read(_CHUNK)
        if not chunk:
            if discarding or buffer:  # the last line, without a newline
                yield None if discarding or len(buffer) > MAX_LINE else buffer
            return
        buffer += chunk


@dataclass
class _RecordFlags:
    too_long: bool = False
    bad_utf8: bool = False


def _csv_records(lines: Iterator[bytes | None], delimiter: str) -> Iterator[tuple[int, list[str], str]]:
    """(row number, cells, problem or "") per CSV record. Decoding is per line so one bad row
    does not stop the file; csv.reader pulls only the lines of the record it is reading, so the
    flags set while decoding belong to that record."""
    flags = _RecordFlags()

    def decoded() -> Iterator[str]:
        for line in lines:
            if line is None:
                flags.too_long = True
                yield "\n"
                continue
            try:
                yield line.decode("utf-8")
            except UnicodeDecodeError:
                flags.bad_utf8 = True
                yield line.decode("utf-8", "replace")

    reader = csv.reader(decoded(), delimiter=delimiter, strict=False)
    number = 0
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit(); the reader goes on
            cells, problem = [], f"the row could not be read ({exc})"
        else:
            problem = ""
        if flags.too_long:
            problem = f"a line of the row is longer than {MAX_LINE // 1024 // 1024} MiB"
        elif flags.bad_utf8:
            problem = "the row is not valid UTF-8"
        flags.too_long = flags.bad_utf8 = False
        yield number, cells, problem


def _csv_header(records: Iterator[tuple[int, list[str], str]]) -> list[str]:
    for _number, cells, problem in records:
        if problem:
            raise PayloadRejected(f"the header row cannot be read: {problem}")
        if any(cell.strip() for cell in cells):
            return _column_names(cells)
    raise PayloadRejected("the file is empty")


def _csv_rows(
    records: Iterator[tuple[int, list[str], str]], columns: list[str], fields: dict[str, str], now_ts: float
) -> Iterator[Row]:
    position = {column: i for i, column in enumerate(columns)}
    mapped = {position[column] for column in fields.values()}
    for number, cells, problem in records:
        if problem:
            yield number, None, [ItemError(number, "", problem)]
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            message = f"expected {len(columns)} cells, found {len(cells)}"
            yield number, None, [ItemError(number, "", message)]
            continue
        item: dict[str, Any] = {}
        for field, column in fields.items():
            cell = cells[position[column]]
            value = cell if field == "text" else cell.strip()  # text keeps its spacing
            if value:
                item[field] = value
        raw = {columns[i]: clean_string(cell) for i, cell in enumerate(cells) if i not in mapped and cell}
        yield _row(number, item, raw, fields, "\x1f".join(cells), now_ts)


def _ndjson_rows(lines: Iterator[bytes | None], fields: dict[str, str], now_ts: float) -> Iterator[Row]:
    keys = set(fields.values())
    for number, line in enumerate(lines, start=1):
        if line is None:
            yield (
                number,
                None,
                [ItemError(number, "", f"the line is longer than {MAX_LINE // 1024 // 1024} MiB")],
            )
            continue
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
            value = decode_json(text)
        except UnicodeDecodeError:
            yield number, None, [ItemError(number, "", "the line is not valid UTF-8")]
            continue
        except RecursionError:
            yield number, None, [ItemError(number, "", "the JSON is nested too deeply")]
            continue
        except ValueError:
            yield number, None, [ItemError(number, "", "the line is not valid JSON")]
            continue
        if not isinstance(value, dict):
            yield number, None, [ItemError(number, "", "each line must be a JSON object")]
            continue
        value = clean_tree(value)  # JSON escapes can carry NUL and lone surrogates
        item = {field: value[key] for field, key in fields.items() if key in value}
        raw = {key: v for key, v in value.items() if key not in keys}
        yield _row(number, item, raw, fields, text, now_ts)


def _row(
    number: int,
    item: dict[str, Any],
    raw: dict[str, Any],
    fields: dict[str, str],
    identity: str,
    now_ts: float,
) -> Row:
    if "external_id" not in fields:
        item["external_id"] = "row-" + hashlib.sha256(identity.encode("utf-8")).hexdigest()[:40]
    errors: list[ItemError] = []
    mention = mention_from_item(item, number, now_ts, errors, raw=raw)
    if mention is None:
        # Name the user's column, not Candor's field: that is what the report is read against.
        return number, None, [dataclasses.replace(e, field=fields.get(e.field, e.field)) for e in errors]
    return number, mention, []
