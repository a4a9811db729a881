"""Stage `drift`: does the newest month look like the data the model learned from?

The newest month (the ingested rows whose `month` is `batches.through_month`) is
compared, feature by feature, with the training reference: the training rows of
every earlier month, that is, what the model trained before this month saw. The
statistics are those of `churn.pipeline.profile`, which the monitor of the served
model uses too. Each feature gets

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
from typing import TYPE_CHECKING, Any

from churn import config, contract, split
from churn.data.cleaning import clean

# pandas and the profile module are imported where they are used, so that
# `churn drift --help` answers without loading them.
if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: Keys of a result that stay out of the registered metric: per-feature detail,
#: and `block`, which is a param that `dvc exp show` lists already.
DETAIL = ("features", "block")


def detect(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    psi_threshold: float,
    p_value: float,
    bins: int,
) -> dict[str, Any]:
    """Per-feature drift scores of `current` against `reference`, and the verdict."""
    from churn.pipeline import profile

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
    """`drift.json`: the month, the verdict, what drifted, the thresholds, the rows.

    Every feature's PSI and p-value stay in the plot data (`plot_rows`), so that
    `dvc metrics show` and `dvc exp show` keep to the numbers a person compares.
    """
    return {key: value for key, value in result.items() if key not in DETAIL}


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
    from churn.pipeline import profile

    p = score["p_value"]
    shown = f"p={p:.2g}" if p > 0 else f"p<{10**-profile.DIGITS:g}"
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
            f"Inspect {config.FILES.drift_plot}, then set drift.block: false to "
            "accept the month."
        )
        return 1, logging.ERROR, blocked
    return (
        0,
        logging.WARNING,
        f"month {month} drifted from the training data in {detail}",
    )


def plot_rows(
    features: dict[str, dict[str, Any]], psi_threshold: float
) -> list[dict[str, Any]]:
    """Every feature's scores, largest PSI first, for the bar chart; each row
    carries the PSI limit, which the chart draws as a line."""
    rows = [
        {"feature": name, **score, "threshold": psi_threshold}
        for name, score in features.items()
    ]
    return sorted(rows, key=lambda r: (-r["psi"], r["feature"]))


def main(argv: list[str] | None = None) -> int:
    """Entry point: score the newest month; exit 1 on drift if `drift.block`."""
    argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn drift",
        description=__doc__,
    ).parse_args(argv)
    import pandas as pd

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
        json.dumps(
            plot_rows(result["features"], params["drift"]["psi_threshold"]), indent=2
        )
        + "\n"
    )
    code, level, message = outcome(result)
    config.DRIFT_METRICS.parent.mkdir(parents=True, exist_ok=True)
    config.DRIFT_METRICS.write_text(json.dumps(as_metrics(result), indent=2) + "\n")
    log.log(level, "%s", message)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
