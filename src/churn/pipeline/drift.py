"""Stage `drift`: does the newest month look like the data the model learned from?

The newest month (`data/batches/latest.csv`) is compared, feature by feature, with
the training reference: the training rows of every earlier month, that is, what the
model trained before this month saw. The statistics are those of
`churn.pipeline.profile`, which the monitor of the served model uses too. Each
feature gets

* the population stability index (PSI), for every feature: the current share of
  rows in each bin (numbers: deciles of the reference) or level (categories) against
  the reference share, `sum((cur - ref) * ln(cur / ref))`;
* a two-sample Kolmogorov-Smirnov test for numbers, a chi-squared test of
  homogeneity for categories and 0/1 flags.

A feature drifts when its PSI reaches `drift.psi_threshold` or its test's p-value
falls below `drift.p_value`. Drift is a warning by default; with `drift.block: true`
the stage fails, so nothing downstream (prepare, train, evaluate) runs on the month.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

import pandas as pd

from churn import config, contract, split
from churn.pipeline import prepare, profile

log = logging.getLogger(__name__)


def detect(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    psi_threshold: float,
    p_value: float,
    bins: int,
) -> dict[str, Any]:
    """Per-feature drift scores of `current` against `reference`, and the verdict."""
    if reference.empty or current.empty:
        raise ValueError("drift needs rows in both the reference and the current data")
    features = profile.compare(
        profile.build(reference, bins=bins),
        current,
        psi_threshold=psi_threshold,
        p_value=p_value,
    )
    drifted = [name for name, s in features.items() if s["drift"]]
    return {
        "verdict": "drift" if drifted else "no drift",
        "drifted": len(drifted),
        "drifted_features": drifted,
        "thresholds": {"psi": psi_threshold, "p_value": p_value, "bins": bins},
        "reference_rows": len(reference),
        "current_rows": len(current),
        "features": features,
    }


def as_metrics(result: dict[str, Any]) -> dict[str, Any]:
    """`drift.json`: the verdict, the thresholds and each feature's PSI and p-value.

    The tests' statistics stay in the plot data, so that `dvc metrics show` keeps
    to two numbers per feature.
    """
    features = result.pop("features")
    return result | {
        "psi": {name: s["psi"] for name, s in features.items()},
        "p_value": {name: s["p_value"] for name, s in features.items()},
    }


def split_reference(
    table: pd.DataFrame, newest_ids: pd.Series, *, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`(reference, current)`: earlier months' training rows, and the newest month."""
    newest = table[contract.ID].isin(newest_ids.astype("int64"))
    earlier = table[~newest]
    train = ~split.is_test(earlier[contract.ID], test_size=test_size, seed=seed)
    return earlier[train], table[newest]


def plot_rows(features: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every feature's scores, largest PSI first, for the bar chart."""
    rows = [{"feature": name, **score} for name, score in features.items()]
    return sorted(rows, key=lambda r: (-r["psi"], r["feature"]))


def main(argv: list[str] | None = None) -> int:
    """Entry point: score the newest month; exit 1 on drift if `drift.block`."""
    argparse.ArgumentParser(prog="churn drift", description=__doc__).parse_args(argv)
    config.setup_logging()
    params = config.load_params()
    knobs = params["drift"]
    table = prepare.clean(pd.read_parquet(config.RAW_DATA))
    newest_ids = pd.read_csv(config.LATEST_BATCH, usecols=[contract.ID])[contract.ID]
    reference, current = split_reference(
        table, newest_ids, test_size=params["prepare"]["test_size"], seed=params["seed"]
    )
    month = params["batches"]["through_month"]
    out: dict[str, Any] = {"month": month, "block": knobs["block"]}
    if reference.empty:
        log.warning("month %d is the first month: nothing to compare it with", month)
        out |= {"verdict": "no reference", "drifted": 0, "drifted_features": []}
        out |= {"features": {}}
    else:
        out |= detect(
            reference,
            current,
            psi_threshold=knobs["psi_threshold"],
            p_value=knobs["p_value"],
            bins=knobs["bins"],
        )
    features = out["features"]
    config.DRIFT_PLOT.parent.mkdir(parents=True, exist_ok=True)
    config.DRIFT_PLOT.write_text(json.dumps(plot_rows(features), indent=2) + "\n")
    config.DRIFT_METRICS.parent.mkdir(parents=True, exist_ok=True)
    config.DRIFT_METRICS.write_text(json.dumps(as_metrics(out), indent=2) + "\n")
    if out["verdict"] != "drift":
        log.info("month %d: no drift in %d features", month, len(features))
        return 0
    detail = ", ".join(
        f"{name} (PSI {features[name]['psi']:.3f}, {features[name]['test']} "
        + (
            f"p={features[name]['p_value']:.2g})"
            if features[name]["p_value"] > 0
            else f"p<{10**-profile.DIGITS:g})"
        )
        for name in out["drifted_features"]
    )
    if knobs["block"]:
        log.error(
            "month %d drifted from the training data in %s; drift.block is true, so "
            "the pipeline stops before training. Inspect %s, then set drift.block: "
            "false to accept the month.",
            month,
            detail,
            config.FILES.drift,
        )
        return 1
    log.warning("month %d drifted from the training data in %s", month, detail)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
