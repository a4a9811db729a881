"""The model card: what the current model is, what it learned from, how good it is.

`churn model-card` (run by `make repro` after `dvc repro`) writes
`reports/model_card.json` and `reports/model_card.md` from the state the pipeline
left: the data and model hashes recorded in `dvc.lock`, the months included, the
params, the metrics, the drift and model-validation verdicts, the git commit and the
time. The commit and the time describe the run, not the inputs of any stage, so the
card is not a DVC output: `dvc.lock` stays the same for the same data, code and
params, however often the card is rewritten.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import yaml

from churn import config

log = logging.getLogger(__name__)


def out_hashes(lock: dict[str, Any]) -> dict[str, str]:
    """Path to md5 of every stage output recorded in a parsed `dvc.lock`."""
    return {
        out["path"]: out["md5"]
        for stage in lock.get("stages", {}).values()
        for out in stage.get("outs", [])
    }


def build(
    *,
    lock: dict[str, Any],
    params: dict[str, Any],
    metrics: dict[str, Any],
    model_validation: dict[str, Any] | None,
    drift_result: dict[str, Any] | None,
    commit: str,
    dirty: list[str],
    now: dt.datetime,
) -> dict[str, Any]:
    """The card as a plain dictionary (what `model_card.json` holds)."""
    hashes = out_hashes(lock)
    through, months = params["batches"]["through_month"], params["batches"]["months"]
    shifts = {
        name: start
        for name, start in (params["batches"].get("shifts") or {}).items()
        if start is not None and start <= through
    }
    estimator = params["train"]["estimator"]
    return {
        "model": {
            "path": config.FILES.model,
            "md5": hashes.get(config.FILES.model),
            "estimator": estimator,
            "hyperparameters": params["train"].get(estimator) or {},
            "seed": params["seed"],
        },
        "data": {
            "months": list(range(1, through + 1)),
            "of_months": months,
            "newest_month": through,
            "simulated_shifts_included": shifts,
            "source": params["batches"]["source"],
            "batches_md5": hashes.get(config.FILES.all_batches),
            "validated_table_md5": hashes.get(config.FILES.raw),
            "test_size": params["prepare"]["test_size"],
        },
        "metrics": metrics,
        "model_validation": model_validation,
        "drift": (
            None
            if drift_result is None
            else {
                "verdict": drift_result["verdict"],
                "drifted_features": drift_result["drifted_features"],
            }
        ),
        "params": params,
        "git": {"commit": commit, "uncommitted_changes": dirty},
        "created": now.isoformat(timespec="seconds"),
    }


def render(card: dict[str, Any]) -> str:
    """The card as Markdown."""
    model, data = card["model"], card["data"]
    months = data["months"]
    dirty = card["git"]["uncommitted_changes"]
    lines = [
        "# Model card: churn",
        "",
        f"Created {card['created']} from commit `{card['git']['commit']}`"
        + (
            f" with {len(dirty)} uncommitted change(s): {', '.join(dirty[:5])}"
            + (", ..." if len(dirty) > 5 else "")
            + "."
            if dirty
            else "."
        ),
        "",
        "## Model",
        "",
        f"- estimator: `{model['estimator']}` {json.dumps(model['hyperparameters'])}",
        f"- seed: {model['seed']}",
        f"- file: `{model['path']}`, md5 `{model['md5']}`",
        "",
        "## Data",
        "",
        f"- months {months[0]}-{months[-1]} of {data['of_months']} "
        f"(newest: month {data['newest_month']}) from `{data['source']}`",
        "- simulated shifts included: "
        + (
            ", ".join(
                f"{name} (from month {start})"
                for name, start in data["simulated_shifts_included"].items()
            )
            or "none"
        ),
        f"- data version: `data/batches/all.csv` md5 `{data['batches_md5']}`, "
        f"validated table md5 `{data['validated_table_md5']}` (from `dvc.lock`)",
        f"- test split: {data['test_size']:.0%} of customers, chosen by a hash of "
        "their id",
        "",
        "## Test metrics",
        "",
        "| metric | value |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in card["metrics"].items()),
        "",
    ]
    validation = card["model_validation"]
    if validation and validation.get("previous"):
        metric = validation["metric"]
        lines += [
            "## Against the previous model",
            "",
            f"Same {validation['test_rows']} test rows; previous model trained on "
            f"months 1-{validation['previous_months']}.",
            "",
            "| metric | previous | current | change |",
            "|---|---|---|---|",
            *(
                f"| {k} | {validation['previous'][k]} | {validation['current'][k]} "
                f"| {validation['delta'][k]:+.6f} |"
                for k in validation["current"]
            ),
            "",
            f"Verdict on {metric}: **{validation['verdict']}**.",
            "",
        ]
    if card["drift"]:
        features = card["drift"]["drifted_features"]
        lines += [
            "## Drift of the newest month",
            "",
            f"Verdict: **{card['drift']['verdict']}**"
            + (f" in {', '.join(features)}." if features else "."),
            "",
        ]
    return "\n".join(lines)


def summary(card: dict[str, Any]) -> str:
    """One line: months, the headline metric against the previous model, drift."""
    data, validation = card["data"], card["model_validation"] or {}
    metric = validation.get("metric", "roc_auc")
    line = (
        f"months 1-{data['newest_month']} of {data['of_months']}: "
        f"{metric} {card['metrics'][metric]}"
    )
    if validation.get("previous"):
        line += (
            f" (previous model {validation['previous'][metric]}: "
            f"{validation['verdict']})"
        )
    if card["drift"]:
        features = card["drift"]["drifted_features"]
        line += f"; newest month: {card['drift']['verdict']}"
        line += f" in {', '.join(features)}" if features else ""
    return line


def _git(*args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=config.ROOT, capture_output=True, text=True, check=False
    )
    return proc.stdout if proc.returncode == 0 else ""


def _json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def collect(now: dt.datetime) -> dict[str, Any]:
    """The card of this checkout's pipeline state (`build` over the files it left).

    Raises `FileNotFoundError` when there are no metrics or `dvc.lock` yet.
    """
    for needed in (config.MODEL_METRICS, config.LOCK_FILE):
        if not needed.is_file():
            raise FileNotFoundError(f"{needed}: not found; run `dvc repro` first")
    dirty = [line[3:] for line in _git("status", "--porcelain").splitlines()]
    return build(
        lock=yaml.safe_load(config.LOCK_FILE.read_text()),
        params=config.load_params(),
        metrics=json.loads(config.MODEL_METRICS.read_text()),
        model_validation=_json(config.MODEL_VALIDATION),
        drift_result=_json(config.DRIFT_METRICS),
        commit=_git("rev-parse", "HEAD").strip() or "unknown",
        dirty=dirty,
        now=now,
    )


def written() -> list[Path]:
    """The card files `churn model-card` left, if it has run."""
    return [p for p in (config.CARD_MD, config.CARD_JSON) if p.is_file()]


def write(card: dict[str, Any], markdown: Path, as_json: Path) -> None:
    """Write `card` as Markdown (`render`) and as JSON (what `build` returned)."""
    as_json.parent.mkdir(parents=True, exist_ok=True)
    as_json.write_text(json.dumps(card, indent=2) + "\n")
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text(render(card) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point: write the model card for the pipeline's current state."""
    argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn model-card",
        description=__doc__,
    ).parse_args(argv)
    config.setup_logging()
    try:
        card = collect(dt.datetime.now(dt.UTC))
    except FileNotFoundError:
        log.error("no metrics or dvc.lock yet: run `dvc repro` first")
        return 1
    write(card, config.CARD_MD, config.CARD_JSON)
    log.info("wrote %s and %s", config.CARD_MD, config.CARD_JSON)
    log.info("%s", summary(card))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
