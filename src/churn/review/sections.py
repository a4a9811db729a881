"""The report's sections as Markdown, built from values already gathered.

Pure text: nothing here reads a file or runs a command (`churn.review.report` does).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from churn import config, stats
from churn.review.rules import CANNOT_JUDGE, Rules, Verdict

TITLE = "Churn model report"
PR_LABEL = "PR"
DASH = "–"
MARKS = {"pass": "✅ pass", "fail": "❌ fail", CANNOT_JUDGE: "⛔ cannot judge"}


def base_label(rev: str) -> str:
    """The base revision as the report and its messages name it: `origin/main` ->
    `main`."""
    return rev.removeprefix("origin/") or repr(rev)


def _real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fmt(value: Any, signed: bool = False) -> str:
    """A number to four decimals (signed if asked), anything else as text."""
    if value is None:
        return DASH
    if not _real(value):
        return str(value)
    if value != value:  # NaN
        return DASH
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def interval_text(interval: stats.Interval | None) -> tuple[str, str]:
    """The interval as `[low, high]` and its label, or dashes without one."""
    if interval is None or interval.low != interval.low:
        return DASH, DASH
    text = f"[{interval.low:+.4f}, {interval.high:+.4f}]"
    label = interval.label
    if interval.significant:
        label += " (worse)" if interval.worse else " (better)"
    return text, label


def verdict_section(
    rules: Rules | None, verdict: Verdict, notes: tuple[str, ...], base_label: str
) -> str:
    """The gate's verdict, the settings it applied (the base's) and any note."""
    text = (
        f"**Quality gate: {MARKS[verdict.status]}** (rule `{verdict.rule}`): "
        f"{verdict.reason}."
    )
    if rules is not None:
        text += (
            f"\n\nGate settings (`params.yaml` on `{base_label}`, `gate:`): metric "
            f"`{rules.metric}`, tolerance {rules.tolerance}, floor {rules.floor}."
        )
    return text + "".join(f"\n\n⚠️ {note[:1].upper()}{note[1:]}." for note in notes)


def metrics_table(
    base: dict[str, Any] | None,
    pr: dict[str, Any] | None,
    intervals: dict[str, stats.Interval] | None,
    base_label: str,
) -> str:
    """Base, PR, change and its bootstrap interval for each headline metric."""
    base, pr = base or {}, pr or {}
    found = set(base) | set(pr)
    if not found:
        return f"_No model metrics found (`{config.FILES.metrics}`)._"
    names = [m for m in stats.METRICS if m in found]
    names += sorted(m for m in found if m not in stats.METRICS)
    lines = [
        f"| metric | {base_label} | {PR_LABEL} | change | 95% CI of change | |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name in names:
        old, new = base.get(name), pr.get(name)
        change = new - old if _real(old) and _real(new) else None
        ci, label = interval_text((intervals or {}).get(name))
        better = stats.HIGHER_IS_BETTER.get(name)
        arrow = "" if better is None else (" ↑" if better else " ↓")
        lines.append(
            f"| {name}{arrow} | {fmt(old)} | {fmt(new)} | {fmt(change, True)} "
            f"| {ci} | {label} |"
        )
    return "\n".join(lines)


def stale_note(validation: Any) -> str:
    """A warning, when validation failed, that the metrics are the old model's."""
    if not isinstance(validation, dict) or validation.get("success") is not False:
        return ""
    return (
        "⚠️ The data failed validation, so nothing was retrained: these are the "
        "metrics of the last good model.\n\n"
    )


def params_table(changes: list[tuple[str, Any, Any]], base_label: str) -> str:
    """The parameters that changed: (dotted name, base value, PR value) rows."""
    if not changes:
        return "No parameter changed."
    lines = [f"| parameter | {base_label} | {PR_LABEL} |", "|---|---|---|"]
    lines += [f"| `{n}` | {_code(old)} | {_code(new)} |" for n, old, new in changes]
    return "\n".join(lines)


def _code(value: Any) -> str:
    return DASH if value is None else f"`{json.dumps(value)}`"


def validation_section(summary: Any, result: dict[str, Any] | None) -> str:
    """Data validation: counts from `metrics/validation.json`, failures from the
    full result in `reports/validation/result.json`."""
    if not isinstance(summary, dict):
        return f"_No validation result (`{config.FILES.validation}` is missing)._"
    if summary.get("success") is True:
        return (
            f"✅ all {summary.get('expectations')} expectations passed on "
            f"{summary.get('rows')} rows."
        )
    failures = ((result or {}).get("summary") or {}).get("failures") or []
    if summary.get("success") is not False:
        why = "; ".join(f.get("why") or "" for f in failures if f.get("why"))
        return (
            "⚠️ The data could not be validated; nothing was trained on this batch."
            + (f" {why}" if why else "")
        )
    text = (
        f"❌ {summary.get('failed')} of {summary.get('expectations')} expectations "
        f"failed on {summary.get('rows')} rows; nothing was trained on this batch."
    )
    if not failures:
        return text
    lines = ["| expectation | column | unexpected | examples |", "|---|---|---:|---|"]
    for f in failures:
        examples = ", ".join(f"`{e!r}`" for e in f.get("examples") or [])
        count = f.get("unexpected_count")
        lines.append(
            f"| `{f.get('expectation')}` | {f.get('column', DASH)} "
            f"| {DASH if count is None else count} "
            f"| {examples or f.get('error', '')} |"
        )
    return text + "\n\n" + "\n".join(lines)


def drift_section(
    drift: dict[str, Any] | None, rows: list[dict[str, Any]] | None, top: int = 5
) -> str:
    """Drift of the newest data against the training data: the verdict from
    `metrics/drift.json`, the largest PSI from the rows of `plots/drift.json`, or a
    note that there is no drift report."""
    if drift is None:
        return f"_No drift report (`{config.FILES.drift}` does not exist)._"
    verdict = drift.get("verdict", "unknown")
    drifted = drift.get("drifted_features") or []
    month = f" for month {drift['month']}" if "month" in drift else ""
    mark = "⚠️" if drifted else "✅"
    text = f"{mark} Drift verdict{month}: **{verdict}**"
    text += f"; drifted features: {', '.join(drifted)}." if drifted else "."
    ranked = sorted(rows or [], key=lambda r: -(r.get("psi") or 0))[:top]
    if not ranked:
        return text
    lines = ["| feature | PSI | test | p-value | drift |", "|---|---:|---|---:|---|"]
    for r in ranked:
        lines.append(
            f"| {r.get('feature', DASH)} | {fmt(r.get('psi'))} | {r.get('test', DASH)} "
            f"| {fmt(r.get('p_value'))} | {'yes' if r.get('drift') else 'no'} |"
        )
    return f"{text}\n\nLargest population stability index:\n\n" + "\n".join(lines)


@dataclass(frozen=True)
class SliceChange:
    """One slice's metric on the base and the PR, with the interval of the change."""

    slice: str
    value: str
    rows: int
    base: float | None
    pr: float | None
    interval: stats.Interval | None

    @property
    def worse(self) -> bool:
        """True when the slice got significantly worse."""
        return self.interval is not None and self.interval.worse


def slices_section(changes: list[SliceChange], metric: str, base_label: str) -> str:
    """The slices that got significantly worse, then every slice's numbers."""
    if not changes:
        return f"_No slice metrics (`{config.FILES.slices}` is missing)._"
    worse = [c for c in changes if c.worse]
    if worse:
        head = f"❌ Slices significantly worse on `{metric}`: " + ", ".join(
            f"**{c.slice}={c.value}** ({fmt(c.interval.delta, True)})" for c in worse
        )
    elif any(c.interval is not None for c in changes):
        head = f"✅ No slice got significantly worse on `{metric}`."
    else:
        head = f"No base to compare slices with; `{metric}` per slice on this PR:"
    lines = [
        f"| slice | rows | {base_label} | {PR_LABEL} | change | 95% CI | |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for c in changes:
        ci, label = interval_text(c.interval)
        change = c.pr - c.base if _real(c.base) and _real(c.pr) else None
        lines.append(
            f"| {c.slice}={c.value} | {c.rows} | {fmt(c.base)} | {fmt(c.pr)} "
            f"| {fmt(change, True)} | {ci} | {label} |"
        )
    return head + "\n\n" + "\n".join(lines)


def compose(sections: list[tuple[str, str]], intro: str) -> str:
    """The report: a title, an intro line, then one `###` section per entry."""
    parts = [f"## {TITLE}", intro]
    parts += [f"### {head}\n\n{body}" for head, body in sections]
    return "\n\n".join(parts) + "\n"
