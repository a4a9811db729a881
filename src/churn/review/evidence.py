"""The evidence a pull request is judged on, gathered once for the report and the gate.

From the workspace (the PR): `params.yaml`, `metrics/metrics.json`,
`metrics/predictions.csv`, `metrics/validation.json`. From git at the base: its
`params.yaml` (whose `gate:` section is the one that applies) and metrics; its
predictions from the DVC cache, by the md5 its `dvc.lock` records (from git when
that lock keeps them out of the cache). Every reading goes through `churn.lineage`.

Nothing here raises for bad evidence: each problem is recorded in words, and the gate
refuses to judge (exit 2) while there is any. The checks:

* the base revision exists (`git rev-parse --verify`) and has a `gate:` section;
* both sides have metrics and predictions (the base may have none only with
  `--first-model`, and then must have neither);
* the PR's predictions pair with the base's: no duplicate ids, probabilities in
  [0, 1], the same label for every shared customer, and enough shared customers
  (`churn.review.pairing`: at least 100, and half of the base's);
* the PR's gate metric in `metrics.json` is the one its `predictions.csv` gives,
  so an edited metrics file is caught.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from churn import config, lineage
from churn.review import pairing
from churn.review.rules import Rules
from churn.review.sections import base_label

log = logging.getLogger(__name__)

#: The workspace files a verdict depends on; their hashes fingerprint it.
EVIDENCE_FILES = (
    config.FILES.params,
    config.FILES.metrics,
    config.FILES.predictions,
    config.FILES.validation,
)


@dataclass(frozen=True)
class Evidence:
    """Everything read from the workspace (the PR) and from git (the base)."""

    base_rev: str
    first_model: bool
    params: dict[str, Any]
    base_params: dict[str, Any] | None
    rules: Rules | None
    pr_metrics: dict[str, Any] | None
    base_metrics: dict[str, Any] | None
    validation: Any
    shared: pd.DataFrame | None
    thresholds: tuple[float, float]
    seed: int
    fingerprint: dict[str, Any]
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def fingerprint(base_rev: str, *, root: Path, first_model: bool) -> dict[str, Any]:
    """What a verdict was judged on: the base commit, the flag, the files' hashes."""
    commit = None
    if lineage.rev_exists(base_rev, cwd=root):
        out = lineage.git("rev-parse", "--verify", f"{base_rev}^{{commit}}", cwd=root)
        commit = out.strip() if out else None
    return {
        "base": base_rev,
        "base_commit": commit,
        "first_model": first_model,
        "files": {name: _sha256(root / name) for name in EVIDENCE_FILES},
    }


def recompute(root: Path) -> None:
    """Rerun the `evaluate` stage (`dvc repro --force --single-item evaluate`), so
    the metrics judged are the model's, never the ones committed with the PR."""
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "repro", "--force", "--single-item", "evaluate"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise lineage.LineageError(f"dvc repro evaluate failed: {proc.stderr.strip()}")
    log.info("recomputed the metrics from the model (dvc repro --force evaluate)")


def _parsed(text: str, where: str, load: Any, problems: list[str]) -> Any:
    try:
        return load(text)
    except (ValueError, yaml.YAMLError) as exc:
        problems.append(f"{where} cannot be parsed ({exc})")
        return None


def _threshold(params: dict[str, Any] | None, default: float) -> float:
    """`evaluate.threshold` of a parsed `params.yaml`, or `default` without one."""
    section = (params or {}).get("evaluate") or {}
    if not isinstance(section, dict):
        raise ValueError(f"evaluate must be a mapping, got {section!r}")
    value = section.get("threshold", default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"evaluate.threshold must be a number, got {value!r}")
    return float(value)


@dataclass
class _Side:
    """What one side (the PR's workspace, or the base in git) holds."""

    params: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    predictions: pd.DataFrame | None = None
    validation: Any = None
    has: tuple[str, ...] = ()


def _workspace(root: Path, problems: list[str]) -> _Side:
    side = _Side()
    try:
        side.params = config.load_params(root / config.FILES.params) or {}
    except config.PARAMS_READ_ERRORS as exc:
        problems.append(
            f"this checkout's {config.FILES.params}: cannot read it ({exc})"
        )
        side.params = {}
    if not isinstance(side.params, dict):
        problems.append(
            f"this checkout's {config.FILES.params} is a "
            f"{type(side.params).__name__}, not a mapping of sections"
        )
        side.params = {}
    for name in (config.FILES.metrics, config.FILES.validation):
        try:
            value = lineage.read_json(root / name)
        except lineage.LineageError as exc:
            problems.append(str(exc))
            continue
        if name == config.FILES.validation:
            side.validation = value
        elif value is None:
            problems.append(f"this checkout has no {name} (run `dvc repro`)")
        elif not isinstance(value, dict):
            problems.append(f"this checkout's {name} is not a JSON object")
        else:
            side.metrics = value
    path = root / config.FILES.predictions
    if path.is_file():
        where = f"this PR's {config.FILES.predictions}"
        side.predictions = pairing.table(path, where, problems)
    else:
        problems.append(f"this PR has no {config.FILES.predictions} (run `dvc repro`)")
    return side


def _base(rev: str, label: str, root: Path, problems: list[str]) -> _Side:
    side = _Side()
    texts = {
        name: lineage.git_show(rev, name, cwd=root)
        for name in (config.FILES.params, config.FILES.metrics)
    }
    try:
        texts[config.FILES.predictions] = lineage.out_at(
            rev, config.FILES.predictions, cwd=root
        )
    except lineage.LineageError as exc:
        # Recorded, but not here: it counts as the base's, and cannot be judged.
        texts[config.FILES.predictions] = None
        side.has = (config.FILES.predictions,)
        problems.append(
            f"{label}'s predictions cannot be read: {exc}. Reproduce {label} into "
            f"this clone's DVC cache: `make base-cache BASE={rev}`"
        )
    side.has += tuple(name for name, text in texts.items() if text is not None)
    params_text = texts[config.FILES.params]
    if params_text is None:
        problems.append(f"{label} has no {config.FILES.params}: no gate settings")
    else:
        where = f"{label}:{config.FILES.params}"
        parsed = _parsed(params_text, where, yaml.safe_load, problems)
        side.params = parsed if isinstance(parsed, dict) else {}
    text = texts[config.FILES.metrics]
    if text is not None:
        where = f"{label}:{config.FILES.metrics}"
        parsed = _parsed(text, where, json.loads, problems)
        if isinstance(parsed, dict):
            side.metrics = parsed
        elif parsed is not None:
            problems.append(f"{where} is not a JSON object")
    text = texts[config.FILES.predictions]
    if text is not None:
        where = f"{label}:{config.FILES.predictions}"
        side.predictions = pairing.table(text, where, problems)
    return side


def _rules(
    base: _Side, pr: _Side, label: str, problems: list[str], notes: list[str]
) -> Rules | None:
    """The gate settings of the base; a note when the PR would change them."""
    if base.params is None:
        return None
    if "gate" not in base.params:
        problems.append(
            f"{label}:{config.FILES.params} has no `gate:` section: no settings to "
            "judge by"
        )
        return None
    if (pr.params or {}).get("gate") != base.params.get("gate"):
        notes.append(f"this PR changes its own gate: {label}'s settings apply")
    try:
        return Rules.from_params(base.params)
    except (KeyError, ValueError) as exc:
        problems.append(f"{label}'s gate settings: {exc.args[0]}")
        return None


def gather(
    base_rev: str, *, root: Path = config.ROOT, first_model: bool = False
) -> Evidence:
    """Collect the evidence for the workspace at `root` against `base_rev`."""
    problems: list[str] = []
    notes: list[str] = []
    label = base_label(base_rev)
    pr = _workspace(root, problems)
    found = lineage.rev_exists(base_rev, cwd=root)
    if found:
        base = _base(base_rev, label, root, problems)
    else:
        base = _Side()
        problems.append(
            f"base revision {base_rev!r} not found (git rev-parse --verify): nothing "
            "to compare with, and no gate settings"
        )
    rules = _rules(base, pr, label, problems, notes)
    model_files = [n for n in base.has if n != config.FILES.params]
    if first_model and model_files:
        problems.append(
            f"--first-model, but {label} already has a model ({', '.join(model_files)})"
            ": compare with it, without the flag"
        )
    elif not first_model and found:
        for name in (config.FILES.metrics, config.FILES.predictions):
            if name not in base.has:
                problems.append(
                    f"{label} has no {name} to compare with (neither its dvc.lock "
                    "nor git records one: run `dvc repro` there and commit dvc.lock)"
                )
    try:
        pr_threshold = _threshold(pr.params, 0.5)
        thresholds = (_threshold(base.params, pr_threshold), pr_threshold)
    except ValueError as exc:
        problems.append(f"{config.FILES.params}: {exc}")
        pr_threshold, thresholds = 0.5, (0.5, 0.5)
    shared = None
    if base.predictions is not None and pr.predictions is not None:
        shared, problem = pairing.pair(
            base.predictions, pr.predictions, base_label=label
        )
        problems += [problem] if problem else []
    if rules is not None and pr.metrics is not None and pr.predictions is not None:
        problem = pairing.consistency(
            pr.metrics, pr.predictions, metric=rules.metric, threshold=pr_threshold
        )
        problems += [problem] if problem else []
    seed = (base.params or {}).get("seed", 0)
    for problem in problems:
        log.warning("cannot judge: %s", problem)
    return Evidence(
        base_rev=base_rev,
        first_model=first_model,
        params=pr.params or {},
        base_params=base.params,
        rules=rules,
        pr_metrics=pr.metrics,
        base_metrics=base.metrics,
        validation=pr.validation,
        shared=shared,
        thresholds=thresholds,
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else 0,
        fingerprint=fingerprint(base_rev, root=root, first_model=first_model),
        problems=tuple(problems),
        notes=tuple(notes),
    )
