"""Model quality per slice of customers: contract, internet service, age, tenure.

A model can hold its overall ROC AUC while getting worse for one group of customers
(say, new month-to-month subscribers). `evaluate` writes these numbers to
`metrics/slices.json`; the pull-request report compares them against `main`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from churn import contract, stats

log = logging.getLogger(__name__)

#: Where `evaluate` writes the metrics per slice (small, committed to git).

#: Slice name to the column it is cut from.
COLUMNS = {
    "contract": "contract",
    "internet_service": "internet_service",
    "senior_citizen": "senior_citizen",
    "tenure_band": "tenure",
}

#: Right edges (months, inclusive) of the tenure bands; the contract caps tenure at 72.
TENURE_EDGES = (12, 24, 48, 72)


def tenure_band(tenure: pd.Series) -> pd.Series:
    """Label each tenure (months) with its band, e.g. `0-12`, `13-24`, `49-72`."""
    edges = [-1, *TENURE_EDGES]
    labels = [f"{lo + 1}-{hi}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    return pd.cut(tenure, bins=edges, labels=labels).astype("string")


def labels(test: pd.DataFrame) -> pd.DataFrame:
    """The slice each test customer belongs to, one column per slice, by `ID`."""
    missing = [c for c in (contract.ID, *COLUMNS.values()) if c not in test.columns]
    if missing:
        raise KeyError(f"missing column(s) {missing}")
    senior = test["senior_citizen"].astype("int64").map({0: "no", 1: "yes"})
    return pd.DataFrame(
        {
            contract.ID: test[contract.ID].astype("int64").to_numpy(),
            "contract": test["contract"].astype("string").to_numpy(),
            "internet_service": test["internet_service"].astype("string").to_numpy(),
            "senior_citizen": senior.astype("string").to_numpy(),
            "tenure_band": tenure_band(test["tenure"]).to_numpy(),
        }
    )


def slice_scores(y: np.ndarray, proba: np.ndarray, *, threshold: float) -> dict:
    """Size, churn rate and metrics of one slice; ranking metrics are `None` when
    the slice holds a single class (they are undefined there)."""
    out: dict[str, Any] = {
        "rows": int(len(y)),
        "churn_rate": round(float(np.mean(y)), 6) if len(y) else None,
    }
    if len(y) == 0:
        return out
    values = stats.metric_values(y, proba, threshold=threshold)
    for name in stats.METRICS:
        value = values[name]
        out[name] = None if np.isnan(value) else round(float(value), 6)
    return out


def slices(
    members: pd.DataFrame, y: np.ndarray, proba: np.ndarray, *, threshold: float
) -> dict[str, dict[str, dict[str, Any]]]:
    """Metrics per slice: `{slice: {value: {rows, churn_rate, roc_auc, ...}}}`.

    `members` is `labels(test)` for the same rows, in the same order, as `y`/`proba`.
    """
    if len(members) != len(y) or len(y) != len(proba):
        raise ValueError(
            f"members ({len(members)}), labels ({len(y)}) and scores "
            f"({len(proba)}) must describe the same rows"
        )
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name in COLUMNS:
        column = members[name].to_numpy()
        out[name] = {
            str(value): slice_scores(
                y[column == value], proba[column == value], threshold=threshold
            )
            for value in sorted(pd.unique(column))
        }
    log.info("scored %d slices", sum(len(v) for v in out.values()))
    return out
