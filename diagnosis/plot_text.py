"""The words and numbers the plots print, read from a diagnosis that may be partial or absent.

A plot is served while the job runs, so the diagnosis may be ``None`` (too few epochs), lack
fields, or hold values of the wrong type; every reader here degrades to "say nothing".
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Mapping
from typing import Any

DiagnosisData = Mapping[str, Any]

# Evidence shown in the report, in reading order: what happened, then how it compares.
EVIDENCE_LABELS = {
    "epochs": "epochs",
    "best_epoch": "best epoch",
    "final_loss": "final loss",
    "final_val_loss": "final val loss",
    "min_val_loss": "min val loss",
    "val_loss_rise": "val loss rise",
    "generalization_gap": "generalization gap",
    "baseline_loss": "baseline loss",
    "loss_vs_baseline": "loss / baseline",
    "train_slope": "train slope / epoch",
    "val_slope": "val slope / epoch",
    "final_accuracy": "final accuracy",
    "final_val_accuracy": "final val accuracy",
}
PERCENT_EVIDENCE = {"val_loss_rise"}
MAX_RECOMMENDATIONS = 5
MAX_SUMMARY_LINES = 4
MAX_FINDINGS = 3


def verdict(diagnosis: DiagnosisData | None) -> str | None:
    value = (diagnosis or {}).get("verdict")
    return value if isinstance(value, str) and value else None


def verdict_label(diagnosis: DiagnosisData | None) -> str | None:
    """``"Verdict: overfit"``, marked provisional while the job still runs."""
    word = verdict(diagnosis)
    if word is None:
        return None
    label = f"Verdict: {word.replace('_', ' ')}"
    # Only an explicit False means "still running"; a diagnosis without the field is final.
    if diagnosis.get("final") is False:
        label += " (provisional)"
    return label


def best_epoch(diagnosis: DiagnosisData | None, epochs: int) -> int | None:
    """The 1-based best epoch, if the diagnosis names one inside the plotted history."""
    evidence = (diagnosis or {}).get("evidence")
    value = evidence.get("best_epoch") if isinstance(evidence, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    epoch = int(value)
    return epoch if 1 <= epoch <= epochs else None


def baseline_loss(diagnosis: DiagnosisData | None) -> float | None:
    """The trivial predictor's loss, the line a model that learned nothing sits on."""
    evidence = (diagnosis or {}).get("evidence")
    value = evidence.get("baseline_loss") if isinstance(evidence, Mapping) else None
    return float(value) if _is_number(value) and value > 0 else None


def confidence_line(diagnosis: DiagnosisData) -> str:
    confidence = diagnosis.get("confidence")
    return f"confidence {confidence:.0%}" if _is_number(confidence) else ""


def body_text(diagnosis: DiagnosisData, width: int) -> str:
    """Summary, reasons, flags, per-run verdicts and recommendations, wrapped to ``width``."""
    blocks = []
    summary = diagnosis.get("summary")
    if isinstance(summary, str) and summary:
        lines = textwrap.wrap(summary, width, max_lines=MAX_SUMMARY_LINES, placeholder=" …")
        blocks.append("\n".join(lines))
    for field in ("reasons", "flags"):
        codes = _strings(diagnosis.get(field))
        if codes:
            blocks.append(textwrap.fill(f"{field}: " + ", ".join(codes), width))
    run_verdicts = _run_verdicts(diagnosis.get("runs"))
    if run_verdicts:
        blocks.append(textwrap.fill("runs: " + run_verdicts, width))
    recommendations = _strings(diagnosis.get("recommendations"))[:MAX_RECOMMENDATIONS]
    if recommendations:
        items = [
            textwrap.fill(text, width, initial_indent="• ", subsequent_indent="  ", max_lines=2, placeholder=" …")
            for text in recommendations
        ]
        blocks.append("What to try:\n" + "\n".join(items))
    return "\n\n".join(blocks)


def evidence_rows(diagnosis: DiagnosisData) -> list[tuple[str, str]]:
    """(label, formatted value) for each numeric evidence field, known fields first."""
    evidence = diagnosis.get("evidence")
    if not isinstance(evidence, Mapping):
        return []
    known = [k for k in EVIDENCE_LABELS if k in evidence]
    extra = sorted(k for k in evidence if k not in EVIDENCE_LABELS)
    rows = []
    for key in known + extra:
        value = evidence[key]
        if _is_number(value):
            rows.append((EVIDENCE_LABELS.get(key, key.replace("_", " ")), _format(key, value)))
    return rows


def finding_lines(diagnosis: DiagnosisData, width: int) -> list[str]:
    """Lines for the findings that found an issue (``rule: message``, each wrapped to two lines
    of ``width``), at most ``MAX_FINDINGS`` of them and a last line counting the rest."""
    findings = diagnosis.get("findings")
    if not isinstance(findings, list):
        return []
    flagged = [
        f
        for f in findings
        if isinstance(f, Mapping) and f.get("status") == "issue_found" and isinstance(f.get("rule"), str)
    ]
    lines = []
    for f in flagged[:MAX_FINDINGS]:
        lines += textwrap.wrap(
            f"{f['rule']}: {f.get('message') or ''}", width, max_lines=2, placeholder=" …", subsequent_indent="  "
        )
    if len(flagged) > MAX_FINDINGS:
        lines.append(f"… and {len(flagged) - MAX_FINDINGS} more (see findings)")
    return lines


def _format(key: str, value: float) -> str:
    if key in PERCENT_EVIDENCE:
        return f"{value:+.0%}"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3g}"


def _run_verdicts(runs: object) -> str:
    """ "overfit ×2, good fit ×1" across repeats, in first-seen order."""
    if not isinstance(runs, list):
        return ""
    counts: dict[str, int] = {}
    for run in runs:
        word = verdict(run) if isinstance(run, Mapping) else None
        if word:
            counts[word] = counts.get(word, 0) + 1
    return ", ".join(f"{word.replace('_', ' ')} ×{n}" for word, n in counts.items())


def _strings(values: object) -> list[str]:
    return [v for v in values if isinstance(v, str) and v] if isinstance(values, list) else []


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
