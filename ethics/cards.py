"""Model cards and audit exports: built from a model version, rendered as JSON, Markdown, CSV, PDF.

A card follows Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019), trimmed to what
Candor knows about a version: purpose, training data, features, held-out metrics, the bias audit
with its intervals and warnings, known limitations, and who trained and activated it.
"""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from fpdf import FPDF

if TYPE_CHECKING:
    from ethics.models import ModelVersion

# Limitations every card carries, whatever the model: what an audit of this kind cannot show.
STANDING_LIMITATIONS = (
    "The bias audit covers only the sensitive attributes this workspace declares, and only the "
    "contacts for whom they are known; groups below the minimum size are shown but not judged.",
    "Held-out metrics describe the data the model was trained on; audiences change, and a model "
    "older than a few months should be retrained and audited again.",
)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def card_build(version: ModelVersion) -> dict[str, Any]:
    report = version.audit_report
    audit: dict[str, Any] | None = None
    if report is not None:
        audit = {
            "passed": report["passed"],
            "audited_at": _iso(version.audited_at),
            "rows": report["rows"],
            "decision_rule": report["decision_rule"],
            "thresholds": report["thresholds"],
            "failures": report["failures"],
            "warnings": report["warnings"],
            "attributes": report["attributes"],
        }
    override = None
    if version.override_reason:
        override = {
            "by": version.activated_by_label or version.activated_by,
            "reason": version.override_reason,
        }
    return {
        "model": {
            "id": version.pk,
            "kind": version.kind,
            "kind_label": version.kind_label,
            "version": version.version,
            "status": version.status,
            "algorithm": version.algorithm,
            "artifact_sha256": version.artifact_sha256,
            "artifact_bytes": version.artifact_bytes,
            "created_at": _iso(version.created_at),
        },
        "purpose": version.purpose,
        "training_data": {
            "window_start": _iso(version.training_window_start),
            "window_end": _iso(version.training_window_end),
            "rows": version.training_rows,
            "rows_excluded_by_consent_gate": version.training_rows_excluded,
        },
        "features": list(version.features),
        "metrics": dict(version.metrics),
        "audit": audit,
        "limitations": [*version.limitations, *STANDING_LIMITATIONS],
        "needs_retraining": version.needs_retraining,
        "retraining_reason": version.retraining_reason,
        "people": {
            "trained_by": version.trained_by_label or version.trained_by,
            "activated_by": (version.activated_by_label or version.activated_by) or None,
            "activated_at": _iso(version.activated_at),
            "override": override,
        },
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _ci(interval: dict[str, float | None] | None, fmt: Any = _pct) -> str:
    if not interval or interval.get("low") is None:
        return ""
    return f" [{fmt(interval['low'])}, {fmt(interval['high'])}]"


def card_markdown(card: dict[str, Any]) -> str:
    model = card["model"]
    data = card["training_data"]
    people = card["people"]
    lines = [
        f"# Model card: {model['kind_label']} v{model['version']}",
        "",
        f"Status: **{model['status']}**. Algorithm: {model['algorithm'] or 'not stated'}. "
        f"Artifact SHA-256 `{model['artifact_sha256']}` ({model['artifact_bytes']} bytes).",
        "",
        "## Purpose",
        "",
        card["purpose"] or "Not stated.",
        "",
        "## Training data",
        "",
        "- Window: "
        + (f"{data['window_start']} to {data['window_end']}" if data["window_start"] else "not stated"),
        f"- Rows after the consent gate: {data['rows']}",
        f"- Rows held back by the consent gate: {data['rows_excluded_by_consent_gate']}",
        "",
        "## Features",
        "",
        *([f"- {feature}" for feature in card["features"]] or ["Not stated."]),
        "",
        "## Metrics on held-out data",
        "",
        *([f"- {name}: {_num(value)}" for name, value in card["metrics"].items()] or ["None recorded."]),
        "",
        "## Bias audit",
        "",
    ]
    audit = card["audit"]
    if audit is None:
        lines.append("Not audited yet: this version cannot be activated.")
    else:
        verdict = "passed" if audit["passed"] else "FAILED"
        lines += [
            f"Audit {verdict} on {audit['rows']} held-out rows ({audit['decision_rule']}); "
            f"four-fifths threshold {audit['thresholds']['min_dp_ratio']}.",
            "",
        ]
        for attribute in audit["attributes"]:
            lines += [
                f"### {attribute['attribute']}",
                "",
                f"Selection-rate ratio {_num(attribute['dp_ratio'])}{_ci(attribute['dp_ratio_ci'], _num)}, "
                f"difference {_num(attribute['dp_difference'])}{_ci(attribute['dp_difference_ci'], _num)}, "
                f"equalized odds difference {_num(attribute['eo_difference'])}"
                f"{_ci(attribute['eo_difference_ci'], _num)}.",
                "",
                "| Group | n | Selection rate (95% CI) | TPR | FPR | Note |",
                "| --- | ---: | --- | ---: | ---: | --- |",
            ]
            for group in attribute["groups"]:
                lines.append(
                    f"| {group['group']} | {group['count']} | {_pct(group['selection_rate'])}"
                    f"{_ci(group['selection_rate_ci'])} | {_pct(group['true_positive_rate'])} | "
                    f"{_pct(group['false_positive_rate'])} | {group['warning']} |"
                )
            lines.append("")
        for failure in audit["failures"]:
            lines.append(f"- Failure: {failure}")
        for warning in audit["warnings"]:
            lines.append(f"- Warning: {warning}")
    lines += ["", "## Known limitations", "", *[f"- {item}" for item in card["limitations"]]]
    if card["needs_retraining"]:
        lines += ["", f"**Needs retraining:** {card['retraining_reason']}"]
    lines += [
        "",
        "## People",
        "",
        f"- Trained by: {people['trained_by']}",
        f"- Activated by: {people['activated_by'] or 'not activated'}"
        + (f" on {people['activated_at']}" if people["activated_at"] else ""),
    ]
    if override := people["override"]:
        lines.append(f"- Activated despite a failed audit by {override['by']}: {override['reason']}")
    return "\n".join(lines) + "\n"


def _pdf_text(text: str) -> str:
    # The core PDF fonts are Latin-1; anything else becomes "?" rather than failing the export.
    return text.replace("**", "").replace("`", "").encode("latin-1", "replace").decode("latin-1")


def card_pdf(card: dict[str, Any]) -> bytes:
    """The Markdown card as a PDF: headings, paragraphs and lists as text, the per-group tables as
    tables (fpdf2's table API)."""
    pdf = FPDF()
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", size=9)
    table_rows: list[list[str]] = []

    def flush_table() -> None:
        if not table_rows:
            return
        widths = (14, 8, 26, 10, 10, 32)[: len(table_rows[0])]
        with pdf.table(text_align="LEFT", line_height=5, col_widths=widths) as table:
            for cells in table_rows:
                row = table.row()
                for cell in cells:
                    row.cell(_pdf_text(cell))
        pdf.ln(2)
        table_rows.clear()

    for line in card_markdown(card).splitlines():
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if not all(set(cell) <= set("-: ") for cell in cells):
                table_rows.append(cells)
            continue
        flush_table()
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            pdf.set_font("Helvetica", style="B", size={1: 15, 2: 12}.get(level, 10))
            pdf.multi_cell(0, 7, _pdf_text(line.lstrip("# ")), align="L", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", size=9)
        else:
            pdf.multi_cell(0, 5, _pdf_text(line) or " ", align="L", new_x="LMARGIN", new_y="NEXT")
    flush_table()
    return bytes(pdf.output())


AUDIT_CSV_COLUMNS = (
    "attribute",
    "group",
    "count",
    "selected",
    "selection_rate",
    "selection_rate_ci_low",
    "selection_rate_ci_high",
    "true_positive_rate",
    "false_positive_rate",
    "true_negative_rate",
    "false_negative_rate",
    "judged",
    "warning",
)


def _cell(value: Any) -> Any:
    # Spreadsheet formula injection (RELIABILITY 18): group names come from tenant data.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def audit_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(AUDIT_CSV_COLUMNS)
    for attribute in report["attributes"]:
        for group in attribute["groups"]:
            ci = group["selection_rate_ci"]
            writer.writerow(
                [
                    _cell(attribute["attribute"]),
                    _cell(group["group"]),
                    group["count"],
                    group["selected"],
                    group["selection_rate"],
                    ci["low"],
                    ci["high"],
                    group["true_positive_rate"],
                    group["false_positive_rate"],
                    group["true_negative_rate"],
                    group["false_negative_rate"],
                    int(not group["too_small"]),
                    _cell(group["warning"]),
                ]
            )
    return out.getvalue()
