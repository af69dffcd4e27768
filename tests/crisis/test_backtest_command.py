"""`manage.py backtest_risk`: a timestamp,value CSV in, timestamp,score,alert out, row by row, and
clear errors (non-zero exit, no traceback) on bad input. No database."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from crisis.ml.features import Signals
from crisis.ml.risk import RiskModel, RiskStream

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2015, 3, 2, 0, 2, 53)  # naive, as in the NAB files: read as UTC


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _volumes(days: int, seed: int = 4) -> list[int]:
    rng = np.random.default_rng(seed)
    hours = np.arange(days * 288) / 12
    return rng.poisson(30 * (1 + 0.6 * np.cos((hours % 24 - 14) / 24 * 2 * math.pi))).tolist()


def _series_csv(path: Path, volumes: list[int]) -> Path:
    stamps = [(T0 + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S") for i in range(len(volumes))]
    return _write(path, ["timestamp,value", *(f"{t},{v}" for t, v in zip(stamps, volumes, strict=True))])


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_scores_every_row_in_order_and_alerts_on_a_surge(tmp_path: Path) -> None:
    volumes = _volumes(5) + [v * 15 for v in _volumes(1, seed=5)[:30]] + _volumes(1, seed=6)
    source = _series_csv(tmp_path / "series.csv", volumes)
    output = tmp_path / "out" / "scores.csv"
    call_command("backtest_risk", input=source, output=output)
    rows = _read(output)
    assert list(rows[0]) == ["timestamp", "score", "alert"]
    stamps = [line.split(",")[0] for line in source.read_text().splitlines()[1:]]
    assert [r["timestamp"] for r in rows] == stamps
    scores = [float(r["score"]) for r in rows]
    assert all(0 <= s <= 100 for s in scores)
    alerts = [i for i, r in enumerate(rows) if r["alert"] == "1"]
    assert {r["alert"] for r in rows} <= {"0", "1"}
    assert alerts and all(i >= 5 * 288 for i in alerts)
    # The command's scores are the streaming scorer's, row by row.
    stream = RiskStream(RiskModel.load())
    expected = [
        stream.update(Signals(timestamp=(T0 + timedelta(minutes=5 * i)).replace(tzinfo=UTC), volume=v))
        for i, v in enumerate(volumes)
    ]
    assert scores == [round(score, 2) for score, _ in expected]
    assert alerts == [i for i, (_, alert) in enumerate(expected) if alert]


def test_changing_future_rows_never_changes_earlier_output(tmp_path: Path) -> None:
    volumes = _volumes(3)
    first = _series_csv(tmp_path / "a.csv", volumes)
    second = _series_csv(tmp_path / "b.csv", volumes[:600] + [v * 40 + 3 for v in volumes[600:]])
    call_command("backtest_risk", input=first, output=tmp_path / "a.out")
    call_command("backtest_risk", input=second, output=tmp_path / "b.out")
    a, b = _read(tmp_path / "a.out"), _read(tmp_path / "b.out")
    assert a[:600] == b[:600]
    assert a[600:] != b[600:]


def test_header_only_and_offsets(tmp_path: Path) -> None:
    call_command(
        "backtest_risk", input=_write(tmp_path / "e.csv", ["timestamp,value"]), output=tmp_path / "e.out"
    )
    assert (tmp_path / "e.out").read_text().splitlines() == ["timestamp,score,alert"]
    # Offsets are honoured: 00:00+01:00 is 23:00 UTC, so 23:30Z comes after it and 22:55Z would not.
    aware = _write(
        tmp_path / "z.csv",
        ["timestamp,value", "2025-01-01T00:00:00+01:00,3", "2024-12-31T23:30:00Z,4"],
    )
    call_command("backtest_risk", input=aware, output=tmp_path / "z.out")
    assert len(_read(tmp_path / "z.out")) == 2
    _write(aware, ["timestamp,value", "2025-01-01T00:00:00+01:00,3", "2024-12-31T22:55:00Z,4"])
    with pytest.raises(CommandError, match="line 3: 2024-12-31T22:55:00Z is not after"):
        call_command("backtest_risk", input=aware, output=tmp_path / "z.out")


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([], "first line must be the header timestamp,value"),
        (["time,count", "2015-03-01 00:00:00,1"], "first line must be the header"),
        (["timestamp,value", "yesterday,1"], r"line 2: 'yesterday' is not an ISO 8601 timestamp"),
        (["timestamp,value", "2015-03-01 00:00:00,many"], r"line 2: value 'many' is not a number"),
        (["timestamp,value", "2015-03-01 00:00:00,-3"], r"line 2: value '-3' must be a count >= 0"),
        (["timestamp,value", "2015-03-01 00:00:00,nan"], r"line 2: value 'nan' must be a count >= 0"),
        (["timestamp,value", "2015-03-01 00:00:00,1,2"], "line 2: expected 2 fields"),
        (
            ["timestamp,value", "2015-03-01 00:05:00,1", "2015-03-01 00:00:00,1"],
            "line 3: 2015-03-01 00:00:00 is not after the previous row's time",
        ),
        (
            ["timestamp,value", "2015-03-01 00:05:00,1", "2015-03-01 00:05:00,1"],
            "line 3: .* strictly increasing time order",
        ),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, lines: list[str], message: str) -> None:
    source = _write(tmp_path / "bad.csv", lines) if lines else tmp_path / "bad.csv"
    if not lines:
        source.write_text("")
    output = tmp_path / "scores.csv"
    with pytest.raises(CommandError, match=message):
        call_command("backtest_risk", input=source, output=output)
    assert not output.exists()
    assert list(tmp_path.glob(".scores.csv.*")) == []


def test_missing_and_binary_input(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="no such file"):
        call_command("backtest_risk", input=tmp_path / "nope.csv", output=tmp_path / "o.csv")
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"timestamp,value\n\xff\xfe\x00\x01,1\n")
    with pytest.raises(CommandError, match="not a UTF-8 text file"):
        call_command("backtest_risk", input=binary, output=tmp_path / "o.csv")


def test_command_line_exit_code_and_no_traceback(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "bad.csv", ["timestamp,value", "2015-03-01 00:05:00,1", "2015-03-01 00:00:00,1"]
    )
    done = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "backtest_risk",
            "--input",
            str(source),
            "--output",
            str(tmp_path / "o"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={"DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert "line 3: 2015-03-01 00:00:00 is not after" in done.stderr
