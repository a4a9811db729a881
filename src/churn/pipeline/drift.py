"""Stage `drift`: does the newest month look like the data the model learned from?

The newest month (the ingested rows whose `month` is `batches.through_month`) is
compared, feature by feature, with the training reference: the training rows of
every earlier month, that is, what the model trained before this month saw. Each
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

import numpy as np
import pandas as pd
from scipy import stats

from churn import config, contract, split
from churn.data.cleaning import clean

log = logging.getLogger(__name__)

#: Share given to an empty bin, so that PSI stays finite (a common choice).
EPSILON = 1e-4
DIGITS = 6

NUMERIC = contract.features_of("integer", "number")
CATEGORICAL = contract.features_of("flag", "category")


def _shares(counts: np.ndarray) -> np.ndarray:
    shares = counts / counts.sum()
    return np.where(shares == 0, EPSILON, shares)


def psi_from_counts(reference: np.ndarray, current: np.ndarray) -> float:
    """PSI between two histograms over the same bins."""
    ref, cur = (
        _shares(np.asarray(reference, float)),
        _shares(np.asarray(current, float)),
    )
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def numeric_counts(
    reference: pd.Series, current: pd.Series, *, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both samples in the reference's quantile bins (open-ended ends)."""
    edges = np.unique(
        np.quantile(reference.to_numpy(float), np.linspace(0, 1, bins + 1))
    )
    inner = edges[1:-1]
    ref = np.bincount(
        np.searchsorted(inner, reference, side="right"), minlength=len(inner) + 1
    )
    cur = np.bincount(
        np.searchsorted(inner, current, side="right"), minlength=len(inner) + 1
    )
    return ref, cur


def category_counts(
    reference: pd.Series, current: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both samples per level seen in either, in sorted level order."""
    # Counted first, then the levels taken from the counts: building a set of the
    # values themselves walks every Arrow string in Python.
    ref_counts = reference.astype(str).value_counts()
    cur_counts = current.astype(str).value_counts()
    levels = sorted(set(ref_counts.index) | set(cur_counts.index))
    ref = ref_counts.reindex(levels, fill_value=0)
    cur = cur_counts.reindex(levels, fill_value=0)
    return ref.to_numpy(), cur.to_numpy()


def feature_drift(
    reference: pd.Series, current: pd.Series, *, numeric: bool, bins: int
) -> dict[str, Any]:
    """PSI and the feature's test (KS or chi-squared) for one feature."""
    if numeric:
        ref, cur = numeric_counts(reference, current, bins=bins)
        test = stats.ks_2samp(reference.to_numpy(float), current.to_numpy(float))
        name, statistic, p_value = "ks", test.statistic, test.pvalue
    else:
        ref, cur = category_counts(reference, current)
        if len(ref) < 2:
            name, statistic, p_value = "chi2", 0.0, 1.0
        else:
            test = stats.chi2_contingency(np.vstack([ref, cur]))
            name, statistic, p_value = "chi2", test.statistic, test.pvalue
    return {
        "psi": round(psi_from_counts(ref, cur), DIGITS),
        "test": name,
        "statistic": round(float(statistic), DIGITS),
        "p_value": round(float(p_value), DIGITS),
    }


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
    features: dict[str, dict[str, Any]] = {}
    for name in contract.feature_names():
        score = feature_drift(
            reference[name], current[name], numeric=name in NUMERIC, bins=bins
        )
        score["drift"] = score["psi"] >= psi_threshold or score["p_value"] < p_value
        features[name] = score
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
    features = result["features"]
    rest = {key: value for key, value in result.items() if key != "features"}
    return rest | {
        "psi": {name: s["psi"] for name, s in features.items()},
        "p_value": {name: s["p_value"] for name, s in features.items()},
    }


def split_reference(
    table: pd.DataFrame, *, month: int, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`(reference, current)`: earlier months' training rows, and month `month`.

    Raises `ValueError` when the table holds no row of `month`.
    """
    newest = table[contract.MONTH].eq(month).to_numpy(dtype=bool, na_value=False)
    if not newest.any():
        raise ValueError(f"the ingested table holds no row of month {month}")
    earlier = table[table[contract.MONTH].lt(month).to_numpy(bool, na_value=False)]
    train = ~split.is_test(earlier[contract.ID], test_size=test_size, seed=seed)
    return earlier[train], table[newest]


def score_month(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    month: int,
    knobs: dict[str, Any],
) -> dict[str, Any]:
    """Everything the stage reports on month `month`, features' scores included.

    With no reference (the first month) the verdict is "no reference" and there
    are no scores.
    """
    out: dict[str, Any] = {"month": month, "block": knobs["block"]}
    if reference.empty:
        return out | {
            "verdict": "no reference",
            "drifted": 0,
            "drifted_features": [],
            "features": {},
        }
    return out | detect(
        reference,
        current,
        psi_threshold=knobs["psi_threshold"],
        p_value=knobs["p_value"],
        bins=knobs["bins"],
    )


def _described(name: str, score: dict[str, Any]) -> str:
    """`feature (PSI 0.457, ks p<1e-06)`: one drifted feature for the log."""
    p = score["p_value"]
    shown = f"p={p:.2g}" if p > 0 else f"p<{10**-DIGITS:g}"
    return f"{name} (PSI {score['psi']:.3f}, {score['test']} {shown})"


def outcome(result: dict[str, Any]) -> tuple[int, int, str]:
    """`(exit code, log level, message)` for a `score_month` result.

    Drift fails the stage only when the result says `block`; otherwise it is a
    warning and the pipeline goes on.
    """
    month, features = result["month"], result["features"]
    if result["verdict"] == "no reference":
        first = f"month {month} is the first month: nothing to compare it with"
        return 0, logging.WARNING, first
    if result["verdict"] != "drift":
        return 0, logging.INFO, f"month {month}: no drift in {len(features)} features"
    detail = ", ".join(
        _described(name, features[name]) for name in result["drifted_features"]
    )
    if result["block"]:
        blocked = (
            f"month {month} drifted from the training data in {detail}; "
            "drift.block is true, so the pipeline stops before training. "
            f"Inspect {config.FILES.drift}, then set drift.block: false to "
            "accept the month."
        )
        return 1, logging.ERROR, blocked
    return (
        0,
        logging.WARNING,
        f"month {month} drifted from the training data in {detail}",
    )


def plot_rows(features: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Every feature's scores, largest PSI first, for the bar chart."""
    rows = [{"feature": name, **score} for name, score in features.items()]
    return sorted(rows, key=lambda r: (-r["psi"], r["feature"]))


def main(argv: list[str] | None = None) -> int:
    """Entry point: score the newest month; exit 1 on drift if `drift.block`."""
    argparse.ArgumentParser(prog="churn drift", description=__doc__).parse_args(argv)
    config.setup_logging()
    params = config.load_params()
    month = params["batches"]["through_month"]
    reference, current = split_reference(
        clean(pd.read_parquet(config.RAW_DATA)),
        month=month,
        test_size=params["prepare"]["test_size"],
        seed=params["seed"],
    )
    result = score_month(reference, current, month=month, knobs=params["drift"])
    config.DRIFT_PLOT.parent.mkdir(parents=True, exist_ok=True)
    config.DRIFT_PLOT.write_text(
        json.dumps(plot_rows(result["features"]), indent=2) + "\n"
    )
    code, level, message = outcome(result)
    config.DRIFT_METRICS.parent.mkdir(parents=True, exist_ok=True)
    config.DRIFT_METRICS.write_text(json.dumps(as_metrics(result), indent=2) + "\n")
    log.log(level, "%s", message)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
