"""An incident report as CSV (one row per figure, cells escaped against spreadsheet formulas) and
as a PDF document (title, key times, volume and sentiment per phase drawn as bars, the statements'
reach, the deadlines and the timeline).

The PDF uses DejaVu Sans when the system has it (Debian's fonts-dejavu-core; any text, any
script it covers); without it, the core Helvetica font and text folded to Latin-1 (accents
dropped, other characters shown as '?'), so a report is always produced."""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from fpdf import FPDF

from crisis.report import Report, duration_label, utc
from listening.connectors.upload import csv_safe

FONT_DIR = Path(settings.CANDOR_PDF_FONT_DIR)
# En and em dash, curly quotes, ellipsis, bullet, arrow, multiplication sign.
_PUNCTUATION = str.maketrans(
    {
        "\u2013": "-",
        "\u2014": "-",
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2026": "...",
        "\u2022": "*",
        "\u2192": "->",
        "\u00d7": "x",
    }
)
NONE = "\u2013"  # an en dash: no value
PHASE_LABELS = {"before": "Before", "during": "During", "after": "After"}


def _when(moment: object) -> str:
    return utc(moment).strftime("%Y-%m-%d %H:%M UTC") if moment is not None else NONE  # type: ignore[arg-type]


def _share(value: float | None) -> str:
    return f"{value * 100:.1f}%" if value is not None else NONE


def _rows(report: Report) -> Iterator[list[object]]:
    yield ["incident", "title", report.title, f"#{report.incident_id}"]
    yield ["incident", "scenario", report.scenario, ""]
    yield ["incident", "severity", report.severity, f"SEV{report.severity}"]
    yield ["incident", "status", report.status, ""]
    yield ["incident", "generated_at", utc(report.generated_at).isoformat(), ""]
    clock = report.clock
    for name, moment in (
        ("first_signal_at", clock.first_signal_at),
        ("detected_at", clock.detected_at),
        ("declared_at", clock.declared_at),
        ("first_statement_at", clock.first_statement_at),
        ("resolved_at", clock.resolved_at),
    ):
        yield ["clock", name, utc(moment).isoformat() if moment else "", ""]
    for stage in report.clock.stages:
        yield [
            "duration_minutes",
            stage.key,
            round(stage.minutes, 1) if stage.minutes is not None else "",
            f"from {stage.start_label}: {duration_label(stage.minutes)}",
        ]
    for phase in report.phases:
        window = f"{utc(phase.start).isoformat()} to {utc(phase.end).isoformat()}"
        yield [f"phase_{phase.name}", "volume", phase.volume, window]
        yield [f"phase_{phase.name}", "volume_per_hour", _round(phase.volume_per_hour), ""]
        yield [f"phase_{phase.name}", "positive", phase.positive, ""]
        yield [f"phase_{phase.name}", "neutral", phase.neutral, ""]
        yield [f"phase_{phase.name}", "negative", phase.negative, ""]
        yield [f"phase_{phase.name}", "negative_share", _round(phase.negative_share, 4), ""]
        yield [f"phase_{phase.name}", "reach", phase.reach, ""]
    recovery = report.recovery
    yield ["recovery", "status", recovery.status, ""]
    yield ["recovery", "minutes_after_resolution", _round(recovery.minutes), _when(recovery.at)]
    for statement in report.reach:
        detail = ", ".join(f"{k} {v}" for k, v in statement.engagement.items())
        yield [
            "reach",
            statement.title,
            statement.delivered,
            f"posts {statement.posts}; failed {statement.failed}; {detail}",
        ]
    for deadline in report.deadlines:
        yield ["deadline", deadline.title, deadline.status, deadline.label]
    for item in report.timeline:
        yield ["timeline", utc(item.at).isoformat(), item.kind, f"{item.text} ({item.actor})"]


def _round(value: float | None, digits: int = 1) -> object:
    return round(value, digits) if value is not None else ""


def report_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["section", "name", "value", "detail"])
    for row in _rows(report):
        writer.writerow([csv_safe(v) if isinstance(v, str) else v for v in row])
    return out.getvalue()


def latin1_safe(text: str) -> str:
    """Text the core PDF fonts can show: punctuation mapped, accents dropped where that leaves a
    Latin-1 letter, anything else a '?'."""
    out = []
    for char in text.translate(_PUNCTUATION):
        if ord(char) < 256:
            out.append(char)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(base if base and all(ord(c) < 256 for c in base) else "?")
    return "".join(out)


class _Pdf(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        self.report_title = title
        regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
        self.unicode = regular.is_file() and bold.is_file()
        if self.unicode:
            self.add_font("body", "", str(regular))
            self.add_font("body", "B", str(bold))
            self.family = "body"
        else:
            self.family = "helvetica"
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(self.clean(title))
        self.set_creator("Candor")

    def clean(self, value: str) -> str:
        return value if self.unicode else latin1_safe(value)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family, "", 8)
        self.set_text_color(120)
        self.cell(0, 6, self.clean(f"{self.report_title} · page {self.page_no()}"), align="C")

    def heading(self, value: str) -> None:
        self.ln(3)
        self.set_font(self.family, "B", 12)
        self.set_text_color(20)
        self.cell(0, 8, self.clean(value), new_x="LMARGIN", new_y="NEXT")
        self.set_font(self.family, "", 9)

    def row(self, widths: list[float], values: list[str], bold: bool = False) -> None:
        self.set_font(self.family, "B" if bold else "", 9)
        height = 6
        for width, value in zip(widths, values, strict=True):
            self.cell(width, height, self.clean(_fit(value, width)), border="B")
        self.ln(height)


def _fit(value: str, width: float) -> str:
    limit = max(int(width / 1.75), 4)
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _bars(pdf: _Pdf, report: Report) -> None:
    """Volume per hour and negative share per phase, as horizontal bars."""
    largest = max((p.volume_per_hour or 0 for p in report.phases), default=0) or 1
    for label, value_of, scale, text_of, colour in (
        (
            "Mentions per hour",
            lambda p: p.volume_per_hour or 0,
            largest,
            lambda p: f"{p.volume_per_hour or 0:.1f}",
            (37, 99, 235),
        ),
        (
            "Negative share",
            lambda p: p.negative_share or 0,
            1.0,
            lambda p: _share(p.negative_share),
            (200, 40, 40),
        ),
    ):
        pdf.set_font(pdf.family, "B", 9)
        pdf.cell(0, 6, pdf.clean(label), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(pdf.family, "", 9)
        for phase in report.phases:
            pdf.cell(22, 6, pdf.clean(PHASE_LABELS[phase.name]))
            x, y = pdf.get_x(), pdf.get_y()
            width = 120 * (value_of(phase) / scale if scale else 0)
            pdf.set_fill_color(*colour)
            if width > 0:
                pdf.rect(x, y + 1.2, width, 3.6, style="F")
            pdf.set_x(x + 124)
            pdf.cell(30, 6, pdf.clean(text_of(phase)), new_x="LMARGIN", new_y="NEXT")


def report_pdf(report: Report) -> bytes:
    pdf = _Pdf(report.title)
    pdf.add_page()
    pdf.set_font(pdf.family, "B", 16)
    pdf.multi_cell(0, 8, pdf.clean(f"Incident report: {report.title}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(pdf.family, "", 9)
    pdf.set_text_color(90)
    facts = [f"#{report.incident_id}", report.scenario, f"SEV{report.severity}", report.status]
    line = " · ".join([*facts, f"generated {_when(report.generated_at)}"])
    pdf.cell(0, 6, pdf.clean(line), new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(20)

    pdf.heading("Key times")
    pdf.row([60, 55, 65], ["Stage", "Duration", "From - to"], bold=True)
    for stage in report.clock.stages:
        pdf.row(
            [60, 55, 65],
            [stage.label, duration_label(stage.minutes), f"{stage.start_label} - {_when(stage.end)}"],
        )
    clock = report.clock
    pdf.ln(2)
    for label, moment in (
        ("First signal", clock.first_signal_at),
        ("Alert", clock.detected_at),
        ("Declared", clock.declared_at),
        ("First statement", clock.first_statement_at),
        ("Resolved", clock.resolved_at),
    ):
        pdf.row([60, 120], [label, _when(moment)])

    pdf.heading("Volume and sentiment")
    pdf.row(
        [22, 62, 22, 22, 22, 30],
        ["Phase", "Window", "Mentions", "Per hour", "Negative", "Neg. share"],
        bold=True,
    )
    for phase in report.phases:
        pdf.row(
            [22, 62, 22, 22, 22, 30],
            [
                PHASE_LABELS[phase.name],
                f"{utc(phase.start):%d %b %H:%M} - {utc(phase.end):%d %b %H:%M}",
                str(phase.volume),
                f"{phase.volume_per_hour:.1f}" if phase.volume_per_hour is not None else NONE,
                str(phase.negative),
                _share(phase.negative_share),
            ],
        )
    pdf.ln(2)
    _bars(pdf, report)
    pdf.ln(1)
    pdf.multi_cell(
        0, 6, pdf.clean(f"Sentiment recovery: {recovery_text(report)}"), new_x="LMARGIN", new_y="NEXT"
    )

    pdf.heading("Reach of the statements")
    if report.reach:
        pdf.row([80, 20, 25, 20, 35], ["Statement", "Posts", "Delivered", "Failed", "Engagement"], bold=True)
        for statement in report.reach:
            pdf.row(
                [80, 20, 25, 20, 35],
                [
                    statement.title,
                    str(statement.posts),
                    str(statement.delivered),
                    str(statement.failed),
                    str(statement.engaged),
                ],
            )
    else:
        pdf.cell(0, 6, pdf.clean("No statement was published."), new_x="LMARGIN", new_y="NEXT")

    pdf.heading("Playbook deadlines")
    if report.deadlines:
        pdf.row([75, 25, 40, 40], ["Task", "Role", "Due", "Outcome"], bold=True)
        for deadline in report.deadlines:
            pdf.row([75, 25, 40, 40], [deadline.title, deadline.role, _when(deadline.due_at), deadline.label])
    else:
        pdf.cell(0, 6, pdf.clean("No tasks."), new_x="LMARGIN", new_y="NEXT")

    pdf.heading("Timeline")
    for item in report.timeline:
        pdf.set_font(pdf.family, "B", 8)
        pdf.cell(36, 5, pdf.clean(_when(item.at)))
        pdf.set_font(pdf.family, "", 8)
        pdf.multi_cell(0, 5, pdf.clean(f"{item.text} ({item.actor})"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def recovery_text(report: Report) -> str:
    recovery = report.recovery
    before = _share(recovery.baseline_share)
    if recovery.status == "recovered":
        after = duration_label(recovery.minutes)
        return (
            f"back to its before-level ({before} negative) {after} after resolution ({_when(recovery.at)})."
        )
    if recovery.status == "not_yet":
        return f"not yet back to its before-level ({before} negative)."
    if recovery.status == "no_baseline":
        return "no mentions before the crisis to compare with."
    return "the incident is not resolved yet."
