"""The quality gate: may this pull request's model replace the one on `main`?

Rules, in the order they decide (settings in the `gate:` section of `params.yaml`):

1. `validation`: the data failed validation -> fail.
2. `no metrics`: the pipeline produced no value for the gate metric -> fail.
3. `floor`: the metric is worse than the absolute floor -> fail.
4. `no base`: `main` has no metrics or predictions yet (the first PR) -> pass.
5. `regression`: the metric got worse than `main` by more than `tolerance` AND the
   paired-bootstrap interval says the change is significant -> fail.
6. `within noise`: worse by more than `tolerance`, but not significantly -> pass.
7. `tolerance`: better, unchanged, or worse by at most `tolerance` -> pass.

`churn gate --base main` gathers the evidence, logs the verdict and exits 1
when the gate fails, which makes it the result of the CI job.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from churn import config, contract, stats

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rules:
    """The gate's settings: which metric, how much worse is tolerated, the floor."""

    metric: str
    tolerance: float
    floor: float
    resamples: int = 1000

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Rules:
        """Read the `gate:` section of `params.yaml`, with a clear error if absent."""
        try:
            gate = params["gate"]
            rules = cls(
                metric=gate["metric"],
                tolerance=float(gate["tolerance"]),
                floor=float(gate["floor"]),
                resamples=int(gate.get("resamples", 1000)),
            )
        except (KeyError, TypeError) as exc:
            raise KeyError(
                f"params.yaml: the gate section needs metric, tolerance, floor ({exc})"
            ) from exc
        if rules.metric not in stats.HIGHER_IS_BETTER:
            raise KeyError(
                f"params.yaml gate.metric {rules.metric!r} is not one of "
                f"{list(stats.HIGHER_IS_BETTER)}"
            )
        if rules.tolerance < 0:
            raise ValueError(f"gate.tolerance must be >= 0, got {rules.tolerance}")
        return rules

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger value of the metric is a better model."""
        return stats.HIGHER_IS_BETTER[self.metric]

    def below_floor(self, value: float) -> bool:
        """Whether `value` of the metric is worse than the absolute floor."""
        return value < self.floor if self.higher_is_better else value > self.floor


@dataclass(frozen=True)
class Verdict:
    """The gate's decision, the rule that made it, and why, in words."""

    passed: bool
    rule: str
    reason: str

    @property
    def status(self) -> str:
        """`pass` or `fail`."""
        return "pass" if self.passed else "fail"


def decide(
    rules: Rules,
    *,
    pr: dict[str, Any] | None,
    base: dict[str, Any] | None,
    interval: stats.Interval | None,
    validation: dict[str, Any] | None,
) -> Verdict:
    """Apply the rules to the PR's and `main`'s metrics (`None` when absent), the
    bootstrap interval of the gate metric and the validation summary."""
    m = rules.metric
    higher = rules.higher_is_better
    if validation is not None and not validation.get("success", False):
        failed = validation.get("failed", "?")
        return Verdict(False, "validation", f"data validation failed ({failed} failed)")
    value = (pr or {}).get(m)
    if value is None:
        return Verdict(False, "no metrics", f"the pipeline produced no `{m}`")
    if rules.below_floor(value):
        side = "below" if higher else "above"
        return Verdict(
            False, "floor", f"`{m}` {value:.4f} is {side} the floor {rules.floor:.4f}"
        )
    old = (base or {}).get(m)
    if old is None or interval is None:
        return Verdict(
            True,
            "no base",
            f"`main` has no metrics or predictions to compare with; `{m}` "
            f"{value:.4f} clears the floor {rules.floor:.4f}",
        )
    drop = (old - value) if higher else (value - old)
    span = f"95% CI of the change [{interval.low:+.4f}, {interval.high:+.4f}]"
    if drop > rules.tolerance and interval.worse:
        return Verdict(
            False,
            "regression",
            f"`{m}` got worse by {drop:.4f} (tolerance {rules.tolerance:.4f}) "
            f"and the change is significant ({span})",
        )
    if drop > rules.tolerance:
        return Verdict(
            True,
            "within noise",
            f"`{m}` got worse by {drop:.4f} (tolerance {rules.tolerance:.4f}) "
            f"but the change is within noise ({span})",
        )
    change = "did not get worse" if drop <= 0 else f"got worse by only {drop:.4f}"
    return Verdict(
        True,
        "tolerance",
        f"`{m}` {change} (tolerance {rules.tolerance:.4f}; {span})",
    )


# --- evidence: what the rules need, read from the workspace and from git ---------


@dataclass(frozen=True)
class Evidence:
    """Everything read from the workspace (the PR) and from git (the base)."""

    base_rev: str
    metrics_diff: dict[str, dict[str, dict[str, Any]]]
    pr_metrics: dict[str, Any] | None
    base_metrics: dict[str, Any] | None
    validation: dict[str, Any] | None
    shared: pd.DataFrame | None
    thresholds: tuple[float, float]
    params: dict[str, Any]


def git_show(rev: str, path: str, *, cwd: Path) -> str | None:
    """The text of `path` at `rev`, or None when the file or the revision is absent."""
    proc = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=cwd, capture_output=True, text=True
    )
    return proc.stdout if proc.returncode == 0 else None


def rev_exists(rev: str, *, cwd: Path) -> bool:
    """True when `rev` names a commit in the repository at `cwd`."""
    proc = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=cwd,
        capture_output=True,
    )
    return proc.returncode == 0


def dvc_json(args: list[str], *, cwd: Path) -> dict[str, Any]:
    """Run `dvc ARGS --json`; its parsed output (empty when it printed nothing)."""
    proc = subprocess.run(
        # The DVC of the running interpreter, whether or not `dvc` is on PATH.
        [sys.executable, "-m", "dvc", *args, "--json"],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"dvc {' '.join(args)} failed:\n{proc.stderr.strip()}")
    return json.loads(proc.stdout) if proc.stdout.strip() else {}


def split_diff(
    diff: dict[str, dict[str, dict[str, Any]]], path: str
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The (base, PR) values of one metrics file from `dvc metrics diff --json`."""
    rows = diff.get(path) or {}
    old = {k: v.get("old") for k, v in rows.items() if v.get("old") is not None}
    new = {k: v.get("new") for k, v in rows.items() if v.get("new") is not None}
    return old or None, new or None


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or None when it does not exist."""
    return json.loads(path.read_text()) if path.is_file() else None


def gather(base_rev: str, *, root: Path = config.ROOT) -> Evidence:
    """Collect the gate's evidence for the workspace at `root` against `base_rev`."""
    params = config.load_params(root / config.FILES.params)
    if rev_exists(base_rev, cwd=root):
        diff = dvc_json(["metrics", "diff", base_rev, "--all"], cwd=root)
        base_text = git_show(base_rev, config.FILES.predictions, cwd=root)
        base_params = yaml.safe_load(
            git_show(base_rev, config.FILES.params, cwd=root) or ""
        )
    else:
        log.warning("base revision %r not found: comparing with nothing", base_rev)
        current = read_json(root / config.FILES.metrics) or {}
        rows = {k: {"old": None, "new": v} for k, v in current.items()}
        diff = {config.FILES.metrics: rows}
        base_text, base_params = None, None
    base_metrics, pr_metrics = split_diff(diff, config.FILES.metrics)
    pr_file = root / config.FILES.predictions
    shared = None
    if base_text and pr_file.is_file():
        shared = stats.align(
            pd.read_csv(io.StringIO(base_text)), pd.read_csv(pr_file), key=contract.ID
        )
    pr_threshold = float(params["evaluate"]["threshold"])
    base_threshold = float(
        ((base_params or {}).get("evaluate") or {}).get("threshold", pr_threshold)
    )
    return Evidence(
        base_rev=base_rev,
        metrics_diff=diff,
        pr_metrics=pr_metrics,
        base_metrics=base_metrics,
        validation=read_json(root / "metrics" / "validation.json"),
        shared=shared,
        thresholds=(base_threshold, pr_threshold),
        params=params,
    )


def intervals(
    evidence: Evidence, *, resamples: int, seed: int
) -> dict[str, stats.Interval] | None:
    """Bootstrap intervals of every headline metric, or None without a base."""
    if evidence.shared is None or evidence.shared.empty:
        return None
    s = evidence.shared
    return stats.paired_bootstrap(
        s["label"].to_numpy(),
        s["score_base"].to_numpy(),
        s["score_pr"].to_numpy(),
        thresholds=evidence.thresholds,
        resamples=resamples,
        seed=seed,
    )


def judge(
    evidence: Evidence, found: dict[str, stats.Interval] | None
) -> tuple[Rules, Verdict]:
    """The rules from the PR's params and the verdict they give on the evidence."""
    rules = Rules.from_params(evidence.params)
    verdict = decide(
        rules,
        pr=evidence.pr_metrics,
        base=evidence.base_metrics,
        interval=(found or {}).get(rules.metric),
        validation=evidence.validation,
    )
    return rules, verdict


def main(argv: list[str] | None = None) -> int:
    """Entry point: judge the workspace against `--base`; exit 1 when the gate fails."""
    parser = argparse.ArgumentParser(prog="churn gate", description=__doc__)
    parser.add_argument("--base", default="main", help="git revision to compare with")
    args = parser.parse_args(argv)
    config.setup_logging()
    try:
        evidence = gather(args.base)
        rules = Rules.from_params(evidence.params)
        found = intervals(
            evidence, resamples=rules.resamples, seed=int(evidence.params["seed"])
        )
        _, verdict = judge(evidence, found)
    except (KeyError, ValueError, RuntimeError) as exc:
        log.error("cannot judge this checkout against %s: %s", args.base, exc)
        return 2
    if verdict.passed:
        log.info("gate passed (rule: %s): %s", verdict.rule, verdict.reason)
        return 0
    log.error("gate FAILED (rule: %s): %s", verdict.rule, verdict.reason)
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
