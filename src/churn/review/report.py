"""The pull-request report: what changed against `main`, is it real, may it merge.

`churn report --base main --out report.md` writes a Markdown report and its
PNG plots (into `report-plots/` beside it) for the workspace against `--base`:

* the gate's verdict and the rule that decided it (`churn.review.gate`);
* every headline metric for `main`, the PR and the change, with a 95% paired-
  bootstrap interval of the change labelled "significant" or "within noise";
* the parameters that changed (`dvc params diff`);
* the data validation summary and the drift summary, when they exist;
* the slices of customers that got significantly worse;
* ROC, precision-recall, calibration, confusion and importance plots, `main` and
  the PR drawn together, rendered from DVC's Vega-Lite specs without a browser.

CI posts the file with `cml comment update`; the functions here only build text.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from churn import config, contract, stats
from churn.pipeline import slices
from churn.review import gate

log = logging.getLogger(__name__)

TITLE = "Churn model report"
PR_LABEL = "PR"
DASH = "–"


def fmt(value: Any, signed: bool = False) -> str:
    """A number to four decimals (signed if asked), anything else as text."""
    if value is None:
        return DASH
    if isinstance(value, bool) or not isinstance(value, int | float):
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


def verdict_section(rules: gate.Rules, verdict: gate.Verdict) -> str:
    """The gate's verdict as the report's first lines."""
    mark = "✅ pass" if verdict.passed else "❌ fail"
    return (
        f"**Quality gate: {mark}** (rule `{verdict.rule}`): {verdict.reason}.\n\n"
        f"Gate settings (`params.yaml`, `gate:`): metric `{rules.metric}`, "
        f"tolerance {rules.tolerance}, floor {rules.floor}."
    )


def metrics_table(
    rows: dict[str, dict[str, Any]],
    intervals: dict[str, stats.Interval] | None,
    base_label: str,
) -> str:
    """Base, PR, change and its bootstrap interval for each headline metric.

    `rows` is one file's entry of `dvc metrics diff --all --json`.
    """
    if not rows:
        return "_No model metrics found (`metrics/metrics.json`)._"
    names = [m for m in stats.METRICS if m in rows] + sorted(
        m for m in rows if m not in stats.METRICS
    )
    lines = [
        f"| metric | {base_label} | {PR_LABEL} | change | 95% CI of change | |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name in names:
        old, new = rows[name].get("old"), rows[name].get("new")
        change = new - old if old is not None and new is not None else None
        ci, label = interval_text((intervals or {}).get(name))
        better = stats.HIGHER_IS_BETTER.get(name)
        arrow = "" if better is None else (" ↑" if better else " ↓")
        lines.append(
            f"| {name}{arrow} | {fmt(old)} | {fmt(new)} | {fmt(change, True)} "
            f"| {ci} | {label} |"
        )
    return "\n".join(lines)


def stale_note(validation: dict[str, Any] | None) -> str:
    """A warning, when validation failed, that the metrics are the old model's."""
    if validation is None or validation.get("success", False):
        return ""
    return (
        "⚠️ The data failed validation, so nothing was retrained: these are the "
        "metrics of the last good model.\n\n"
    )


def params_table(diff: dict[str, dict[str, dict[str, Any]]], base_label: str) -> str:
    """The parameters that changed, from `dvc params diff --json`."""
    rows = [
        (f"{name}", spec.get("old"), spec.get("new"))
        for path in sorted(diff)
        for name, spec in sorted(diff[path].items())
    ]
    if not rows:
        return "No parameter changed."
    lines = [f"| parameter | {base_label} | {PR_LABEL} |", "|---|---|---|"]
    lines += [f"| `{n}` | {_code(old)} | {_code(new)} |" for n, old, new in rows]
    return "\n".join(lines)


def _code(value: Any) -> str:
    return DASH if value is None else f"`{json.dumps(value)}`"


def validation_section(
    summary: dict[str, Any] | None, result: dict[str, Any] | None
) -> str:
    """Data validation: counts from `metrics/validation.json`, failures from the
    full result in `reports/validation/result.json`."""
    if summary is None:
        return "_No validation result (`metrics/validation.json` is missing)._"
    if summary.get("success"):
        return (
            f"✅ all {summary.get('expectations')} expectations passed on "
            f"{summary.get('rows')} rows."
        )
    text = (
        f"❌ {summary.get('failed')} of {summary.get('expectations')} expectations "
        f"failed on {summary.get('rows')} rows; nothing was trained on this batch."
    )
    failures = ((result or {}).get("summary") or {}).get("failures") or []
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


def drift_section(drift: dict[str, Any] | None, top: int = 5) -> str:
    """Drift of the newest data against the training data, from
    `metrics/drift.json`, or a note that there is no drift report."""
    if drift is None:
        return "_No drift report (`metrics/drift.json` does not exist)._"
    verdict = drift.get("verdict", "unknown")
    drifted = drift.get("drifted_features") or []
    month = f" for month {drift['month']}" if "month" in drift else ""
    mark = "⚠️" if drifted else "✅"
    text = f"{mark} Drift verdict{month}: **{verdict}**"
    text += f"; drifted features: {', '.join(drifted)}." if drifted else "."
    features = drift.get("features") or {}
    ranked = sorted(features.items(), key=lambda kv: -(kv[1].get("psi") or 0))[:top]
    if not ranked:
        return text
    lines = ["| feature | PSI | test | p-value | drift |", "|---|---:|---|---:|---|"]
    for name, s in ranked:
        lines.append(
            f"| {name} | {fmt(s.get('psi'))} | {s.get('test', DASH)} "
            f"| {fmt(s.get('p_value'))} | {'yes' if s.get('drift') else 'no'} |"
        )
    return f"{text}\n\nLargest population stability index:\n\n" + "\n".join(lines)


@dataclass(frozen=True)
class SliceChange:
    """One slice's metric on `main` and the PR, with the interval of the change."""

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


def slice_intervals(
    shared: pd.DataFrame,
    members: pd.DataFrame,
    *,
    metric: str,
    thresholds: tuple[float, float],
    resamples: int,
    seed: int,
) -> dict[tuple[str, str], stats.Interval]:
    """Paired-bootstrap interval of `metric` within each slice of the shared rows."""
    rows = shared.merge(members, on=contract.ID, how="inner")
    out = {}
    for name in slices.COLUMNS:
        for value, part in rows.groupby(name, sort=True):
            out[(name, str(value))] = stats.paired_bootstrap(
                part["label"].to_numpy(),
                part["score_base"].to_numpy(),
                part["score_pr"].to_numpy(),
                thresholds=thresholds,
                metrics=(metric,),
                resamples=resamples,
                seed=seed,
            )[metric]
    return out


def slice_changes(
    base: dict[str, Any] | None,
    pr: dict[str, Any] | None,
    found: dict[tuple[str, str], stats.Interval],
    *,
    metric: str,
) -> list[SliceChange]:
    """Join `main`'s and the PR's `metrics/slices.json` with the slice intervals."""
    out = []
    for name, values in (pr or {}).items():
        for value, scores in values.items():
            old = ((base or {}).get(name) or {}).get(value) or {}
            out.append(
                SliceChange(
                    name,
                    value,
                    int(scores.get("rows", 0)),
                    old.get(metric),
                    scores.get(metric),
                    found.get((name, value)),
                )
            )
    return out


def slices_section(changes: list[SliceChange], metric: str, base_label: str) -> str:
    """The slices that got significantly worse, then every slice's numbers."""
    if not changes:
        return "_No slice metrics (`metrics/slices.json` is missing)._"
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
        change = c.pr - c.base if c.base is not None and c.pr is not None else None
        lines.append(
            f"| {c.slice}={c.value} | {c.rows} | {fmt(c.base)} | {fmt(c.pr)} "
            f"| {fmt(change, True)} | {ci} | {label} |"
        )
    return head + "\n\n" + "\n".join(lines)


def slug(title: str) -> str:
    """A file name for a plot title: `ROC curve` -> `roc-curve`."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def relabel(spec: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A copy of a Vega-Lite spec with revision names replaced (`workspace` ->
    `PR`) and the confusion matrix's counts shown without a click."""
    spec = copy.deepcopy(spec)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return names.get(node, node) if isinstance(node, str) else node

    spec = walk(spec)
    for param in spec.get("params", []):
        if param.get("name") == "showValues":
            param["value"] = True
    return spec


def render_png(spec: dict[str, Any]) -> bytes:
    """A Vega-Lite spec rendered to PNG (no browser; vl-convert)."""
    import vl_convert

    return vl_convert.vegalite_to_png(spec, scale=1.5)


def write_plots(
    plots: dict[str, list[dict[str, Any]]], folder: Path, names: dict[str, str]
) -> list[tuple[str, Path]]:
    """Render `dvc plots diff --json` output into `folder`; (title, file) pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for title, items in plots.items():
        specs = [i for i in items if i.get("type") == "vega" and i.get("content")]
        for k, item in enumerate(specs):
            name = slug(title) + (f"-{k}" if k else "") + ".png"
            (folder / name).write_bytes(render_png(relabel(item["content"], names)))
            out.append((title, folder / name))
    log.info("rendered %d plots into %s", len(out), folder)
    return out


def plots_section(images: list[tuple[str, Path]], relative_to: Path) -> str:
    """Markdown image links, relative to the report's folder."""
    if not images:
        return "_No plots._"
    return "\n\n".join(
        f"![{title}]({path.relative_to(relative_to).as_posix()})"
        for title, path in images
    )


def compose(sections: list[tuple[str, str]], intro: str) -> str:
    """The report: a title, an intro line, then one `###` section per entry."""
    parts = [f"## {TITLE}", intro]
    parts += [f"### {head}\n\n{body}" for head, body in sections]
    return "\n\n".join(parts) + "\n"


# --- I/O: gather everything from the workspace, git and DVC, then write ----------


def _short_sha(rev: str, root: Path) -> str:
    proc = subprocess.run(
        ["git", "rev-parse", "--short", rev], cwd=root, capture_output=True, text=True
    )
    return proc.stdout.strip() if proc.returncode == 0 else "not found"


def _members(root: Path) -> pd.DataFrame | None:
    test = root / config.FILES.test
    return slices.labels(pd.read_parquet(test)) if test.is_file() else None


def build(base_rev: str, out: Path, *, root: Path = config.ROOT) -> gate.Verdict:
    """Write the report for the workspace at `root` against `base_rev` to `out`
    (plots beside it); return the gate's verdict."""
    evidence = gate.gather(base_rev, root=root)
    rules = gate.Rules.from_params(evidence.params)
    seed = int(evidence.params["seed"])
    found = gate.intervals(evidence, resamples=rules.resamples, seed=seed)
    _, verdict = gate.judge(evidence, found)
    has_base = gate.rev_exists(base_rev, cwd=root)
    base_label = base_rev.removeprefix("origin/")
    members = _members(root)
    by_slice: dict[tuple[str, str], stats.Interval] = {}
    if evidence.shared is not None and members is not None:
        by_slice = slice_intervals(
            evidence.shared,
            members,
            metric=rules.metric,
            thresholds=evidence.thresholds,
            resamples=rules.resamples,
            seed=seed,
        )
    slices_file = config.FILES.slices
    base_slices = gate.git_show(base_rev, slices_file, cwd=root) if has_base else None
    changes = slice_changes(
        json.loads(base_slices) if base_slices else None,
        gate.read_json(root / slices_file),
        by_slice,
        metric=rules.metric,
    )
    params_diff = (
        gate.dvc_json(["params", "diff", base_rev], cwd=root) if has_base else {}
    )
    plot_names = {"workspace": PR_LABEL, base_rev: base_label}
    plots = gate.dvc_json(
        ["plots", "diff", base_rev] if has_base else ["plots", "show"], cwd=root
    )
    folder = out.parent / f"{out.stem}-plots"
    images = write_plots(plots.get("data", {}), folder, plot_names)
    shared = 0 if evidence.shared is None else len(evidence.shared)
    intro = (
        f"This pull request's model against `{base_label}` at "
        f"`{_short_sha(base_rev, root)}`. Intervals: 95% paired bootstrap over the "
        f"{shared} test customers both models scored ({rules.resamples} resamples, "
        f"seed {seed})."
    )
    sections = [
        ("Verdict", verdict_section(rules, verdict)),
        (
            "Metrics",
            stale_note(evidence.validation)
            + metrics_table(
                evidence.metrics_diff.get(config.FILES.metrics, {}), found, base_label
            ),
        ),
        ("Parameters changed", params_table(params_diff, base_label)),
        (
            "Data validation",
            validation_section(
                evidence.validation,
                gate.read_json(root / config.FILES.validation_result),
            ),
        ),
        ("Drift", drift_section(gate.read_json(root / "metrics" / "drift.json"))),
        ("Slices", slices_section(changes, rules.metric, base_label)),
        ("Plots", plots_section(images, out.parent)),
    ]
    out.write_text(compose(sections, intro))
    log.info("wrote %s (gate: %s, rule %s)", out, verdict.status, verdict.rule)
    return verdict


def main(argv: list[str] | None = None) -> int:
    """Entry point: write the report; exit 0 whatever the verdict (the gate is
    `churn gate`)."""
    parser = argparse.ArgumentParser(prog="churn report", description=__doc__)
    parser.add_argument("--base", default="main", help="git revision to compare with")
    parser.add_argument("--out", type=Path, default=Path("report.md"))
    args = parser.parse_args(argv)
    config.setup_logging()
    try:
        build(args.base, args.out.resolve())
    except (KeyError, ValueError, RuntimeError) as exc:
        log.error("cannot write the report against %s: %s", args.base, exc)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
