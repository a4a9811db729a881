"""The pull-request report: what changed against the base, is it real, may it merge.

`churn report --base main --out report.md` writes a Markdown report, its PNG plots
(into `report-plots/` beside it) and the gate's verdict (`report.json` beside it,
which `churn gate --verdict report.json` takes instead of judging again):

* the gate's verdict and the rule that decided it (`churn.review.gate`), with the
  base's gate settings and a warning when the PR changes them;
* every headline metric for the base, the PR and the change, with a 95% paired-
  bootstrap interval of the change labelled "significant" or "within noise";
* the parameters that changed (`params.yaml` on the base against the PR's);
* the data validation summary and the drift summary, when they exist;
* the slices of customers that got significantly worse;
* ROC, precision-recall, calibration, confusion and importance plots, the base and
  the PR drawn together, rendered from DVC's Vega-Lite specs without a browser.

The evidence is gathered and bootstrapped once (`churn.review.evidence`); the
report exits 0 whatever the verdict, and 2 when the base revision does not exist.
CI posts the file with `cml comment update`.
"""

from __future__ import annotations

import argparse
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churn import config, contract, lineage, stats
from churn.review import gate, plots, sections
from churn.review.sections import PR_LABEL, SliceChange

# pandas, the evidence and the slices are imported where they are used, so that
# `churn report --help` answers without loading them.
if TYPE_CHECKING:
    import pandas as pd

    from churn.review import evidence as ev

log = logging.getLogger(__name__)


def flatten(params: Any, prefix: str = "") -> dict[str, Any]:
    """Nested params as dotted names: `{"train": {"C": 1}}` -> `{"train.C": 1}`."""
    if not isinstance(params, dict):
        return {prefix: params} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in params.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def params_changes(
    base: dict[str, Any] | None, pr: dict[str, Any]
) -> list[tuple[str, Any, Any]]:
    """(name, base value, PR value) of every parameter that differs, by name."""
    old, new = flatten(base or {}), flatten(pr)
    names = sorted(set(old) | set(new))
    return [(n, old.get(n), new.get(n)) for n in names if old.get(n) != new.get(n)]


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
    from churn.pipeline import slices

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
    """Join the base's and the PR's `metrics/slices.json` with the slice intervals."""
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


def _slices(evidence: ev.Evidence, found: Any, root: Path) -> list[SliceChange]:
    import pandas as pd

    from churn.pipeline import slices

    rules = evidence.rules
    metric = rules.metric if rules else stats.METRICS[0]
    test = root / config.FILES.test
    by_slice: dict[tuple[str, str], stats.Interval] = {}
    if found is not None and rules is not None and test.is_file():
        by_slice = slice_intervals(
            evidence.shared,
            slices.labels(pd.read_parquet(test)),
            metric=metric,
            thresholds=evidence.thresholds,
            resamples=rules.resamples,
            seed=evidence.seed,
        )
    return slice_changes(
        lineage.json_at(evidence.base_rev, config.FILES.slices, cwd=root),
        lineage.read_json(root / config.FILES.slices),
        by_slice,
        metric=metric,
    )


def _draw(
    base_rev: str, root: Path, folder: Path, names: dict[str, str]
) -> list[tuple[str, Path]]:
    """The plots of `dvc plots diff BASE`, rendered into `folder` with the
    revisions renamed by `names`; (title, file) pairs."""
    specs = lineage.dvc_json(["plots", "diff", base_rev], cwd=root) or {}
    return plots.write_plots(specs.get("data", {}), folder, names)


def build(
    base_rev: str, out: Path, *, root: Path = config.ROOT, first_model: bool = False
) -> gate.Verdict:
    """Write the report for the workspace at `root` against `base_rev` to `out`
    (plots and the verdict file beside it); return the gate's verdict."""
    verdict_file = gate.verdict_path(out)
    verdict_file.unlink(missing_ok=True)  # never leave a verdict of older evidence
    if not lineage.rev_exists(base_rev, cwd=root):
        raise lineage.LineageError(
            f"base revision {base_rev!r} not found (git rev-parse --verify)"
        )
    label = sections.base_label(base_rev)
    folder = out.parent / f"{out.stem}-plots"
    with ThreadPoolExecutor(max_workers=2) as pool:
        # The plots need DVC's specs, from a subprocess, and vl-convert, which
        # starts its engine once per process: both go on while the evidence is
        # gathered and bootstrapped here.
        warm = pool.submit(plots.warm_up)
        drawn = pool.submit(
            _draw, base_rev, root, folder, {"workspace": PR_LABEL, base_rev: label}
        )
        # pandas comes with the evidence: imported while DVC starts up.
        from churn.review import evidence as ev

        evidence = ev.gather(base_rev, root=root, first_model=first_model)
        found = gate.intervals(evidence)
        verdict = gate.judge(evidence, found)
        by_slice = _slices(evidence, found, root)
        warm.result()
        images = drawn.result()
    rules = evidence.rules
    metric = rules.metric if rules else stats.METRICS[0]
    shared = 0 if evidence.shared is None else len(evidence.shared)
    intro = (
        f"This pull request's model against `{label}` at "
        f"`{lineage.short_sha(base_rev, cwd=root)}`. "
    )
    if rules is not None:
        intro += (
            f"Intervals: 95% paired bootstrap over the {shared} test customers both "
            f"models scored ({rules.resamples} resamples, seed {evidence.seed})."
        )
    validation_result = lineage.read_json(root / config.FILES.validation_result)
    body = [
        (
            "Verdict",
            sections.verdict_section(rules, verdict, evidence.notes, label),
        ),
        (
            "Metrics",
            sections.stale_note(evidence.validation)
            + sections.metrics_table(
                evidence.base_metrics, evidence.pr_metrics, found, label
            ),
        ),
        (
            "Parameters changed",
            sections.params_table(
                params_changes(evidence.base_params, evidence.params), label
            ),
        ),
        (
            "Data validation",
            sections.validation_section(evidence.validation, validation_result),
        ),
        (
            "Drift",
            sections.drift_section(
                lineage.read_json(root / config.FILES.drift),
                lineage.read_json(root / config.FILES.drift_plot),
            ),
        ),
        (
            "Slices",
            sections.slices_section(by_slice, metric, label),
        ),
        ("Plots", plots.plots_section(images, out.parent)),
    ]
    out.write_text(sections.compose(body, intro.strip()))
    gate.write_verdict(verdict_file, verdict, evidence)
    log.info("wrote %s (gate: %s, rule %s)", out, verdict.status, verdict.rule)
    return verdict


def main(argv: list[str] | None = None, *, root: Path = config.ROOT) -> int:
    """Entry point: write the report and its verdict; exit 0 whatever the verdict
    (the gate is `churn gate`), 2 when no report can be written."""
    parser = argparse.ArgumentParser(
        prog="churn report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    gate.add_review_options(parser)
    parser.add_argument("--out", type=Path, default=Path("report.md"))
    args = parser.parse_args(argv)
    config.setup_logging()
    try:
        if args.recompute:
            from churn.review import evidence as ev

            ev.recompute(root)
        build(args.base, args.out.resolve(), root=root, first_model=args.first_model)
    except (KeyError, ValueError, OSError) as exc:
        log.error("cannot write the report against %r: %s", args.base, exc)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
