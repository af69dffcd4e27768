"""Replay a mention-count series through the crisis-risk scorer, row by row, with no look-ahead.

    python manage.py backtest_risk --input series.csv --output scores.csv

The input has the header `timestamp,value` (mentions per 5 minutes, oldest first, as in the NAB
files; timestamps in ISO 8601, UTC when they carry no offset). The output has `timestamp,score,alert`:
the 0-100 risk score of each row and 1 on the rows where Candor would raise a crisis alert. Each
row goes through the same feature state, model and alert policy as production, in order, before the
next row is read. Needs no database.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from argparse import ArgumentParser
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from crisis.ml.features import Signals
from crisis.ml.risk import ARTIFACT_PATH, RiskModel, RiskStream

HEADER = ["timestamp", "value"]


def _row_parse(line: int, row: list[str]) -> tuple[datetime, float]:
    if len(row) != 2:
        raise CommandError(f"line {line}: expected 2 fields (timestamp,value), found {len(row)}")
    text, value_text = row[0].strip(), row[1].strip()
    try:
        timestamp = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"line {line}: {text!r} is not an ISO 8601 timestamp") from None
    try:
        value = float(value_text)
    except ValueError:
        raise CommandError(f"line {line}: value {value_text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise CommandError(f"line {line}: value {value_text!r} must be a count >= 0")
    return (timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)), value


class Command(BaseCommand):
    help = "Score a timestamp,value CSV of 5-minute mention counts; write timestamp,score,alert."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--input", type=Path, required=True, help="CSV with header timestamp,value")
        parser.add_argument("--output", type=Path, required=True, help="CSV to write timestamp,score,alert")
        parser.add_argument("--model", type=Path, default=ARTIFACT_PATH, help="risk model artifact (.json)")

    def handle(self, *args: Any, **options: Any) -> None:
        source: Path = options["input"]
        output: Path = options["output"]
        try:
            model = RiskModel.load(options["model"])
        except (OSError, ValueError, KeyError) as error:
            raise CommandError(f"cannot read the model {options['model']}: {error}") from None
        stream = RiskStream(model)
        # Written to a temporary file and moved into place at the end: a rejected input leaves no
        # half-written output behind.
        output.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".tmp")
        rows = alerts = 0
        try:
            with (
                source.open(newline="", encoding="utf-8-sig") as infile,
                os.fdopen(handle, "w", newline="") as out,
            ):
                reader = csv.reader(infile)
                header = next(reader, None)
                if header is None or [cell.strip().lower() for cell in header] != HEADER:
                    raise CommandError(f"{source}: the first line must be the header timestamp,value")
                writer = csv.writer(out)
                writer.writerow(["timestamp", "score", "alert"])
                previous: datetime | None = None
                for row in reader:
                    if not row:
                        continue
                    timestamp, value = _row_parse(reader.line_num, row)
                    if previous is not None and timestamp <= previous:
                        raise CommandError(
                            f"line {reader.line_num}: {row[0].strip()} is not after the previous row's"
                            f" time ({previous.isoformat()}); rows must be in strictly increasing time order"
                        )
                    previous = timestamp
                    score, alert = stream.update(Signals(timestamp=timestamp, volume=value))
                    writer.writerow([row[0].strip(), f"{score:.2f}", int(alert)])
                    rows += 1
                    alerts += alert
            os.replace(temporary, output)
        except FileNotFoundError:
            raise CommandError(f"{source}: no such file") from None
        except UnicodeDecodeError:
            raise CommandError(f"{source}: not a UTF-8 text file") from None
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        self.stdout.write(f"scored {rows} rows of {source} with {model.version}: {alerts} alerts -> {output}")
