"""Profiles of a table, and the drift of new rows against one: PSI, KS, chi-squared.

The one implementation of the drift statistics. The drift stage profiles the earlier
months' training rows and scores the newest month against that profile; the model
package carries the profile of its training data, and `churn monitor` scores the
service's traffic against it. A profile is plain JSON, per feature:

* a number: the inner edges of `bins` quantile bins of the reference (open-ended
  ends) and its count in each, for the population stability index (PSI); and its
  distinct values with their counts, for a two-sample Kolmogorov-Smirnov test. A
  feature with more than `MAX_POINTS` distinct values keeps `MAX_POINTS` evenly
  spaced quantiles instead, which the test treats as a sample of that size (a
  conservative p-value); every feature of the bundled data stays exact.
* a category or 0/1 flag: its count per level, for PSI and a chi-squared test of
  homogeneity.

PSI is `sum((cur - ref) * ln(cur / ref))` over the shares of rows per bin or level.
A feature drifts when its PSI reaches the PSI threshold or its test's p-value falls
below the p-value threshold.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from churn import contract

log = logging.getLogger(__name__)

#: Share given to an empty bin, so that PSI stays finite (a common choice).
EPSILON = 1e-4
DIGITS = 6
#: Most points a number's distribution keeps for the KS test.
MAX_POINTS = 5000

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


def bin_counts(values: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Counts of `values` in the bins that the inner edges `inner` cut."""
    where = np.searchsorted(inner, values, side="right")
    return np.bincount(where, minlength=len(inner) + 1)


def numeric_counts(
    reference: pd.Series, current: pd.Series, *, bins: int
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both samples in the reference's quantile bins (open-ended ends)."""
    entry = number_profile(reference, bins=bins)
    inner = np.asarray(entry["edges"], float)
    return np.asarray(entry["counts"]), bin_counts(current.to_numpy(float), inner)


def _level(value: Any) -> str:
    # A 0/1 flag is the level "1" whether the table holds it as 1 or as 1.0.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def level_counts(values: pd.Series) -> pd.Series:
    """Rows per level, the levels as text and in sorted order, empty levels left out.

    Counted first, then the levels named from the counts: naming every value walks
    each Arrow string in Python.
    """
    counts = values.value_counts(dropna=False)
    counts.index = [_level(v) for v in counts.index]
    counts = counts.groupby(level=0).sum()
    return counts[counts > 0].sort_index()


def category_counts(
    reference: pd.Series, current: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both samples per level seen in either, in sorted level order."""
    entry = category_profile(reference)
    ref = pd.Series(entry["counts"], index=entry["levels"])
    return _aligned(ref, level_counts(current))


def _aligned(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    levels = sorted(set(ref.index) | set(cur.index))
    return (
        ref.reindex(levels, fill_value=0).to_numpy(),
        cur.reindex(levels, fill_value=0).to_numpy(),
    )


def number_profile(values: pd.Series | np.ndarray, *, bins: int) -> dict[str, Any]:
    """A number's profile: quantile bins and counts, and its distribution."""
    x = np.asarray(values, float)
    if len(x) == 0:
        raise ValueError("cannot profile an empty column")
    inner = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)))[1:-1]
    points, weights = np.unique(x, return_counts=True)
    if len(points) > MAX_POINTS:
        points = np.quantile(x, (np.arange(MAX_POINTS) + 0.5) / MAX_POINTS)
        weights = np.ones(MAX_POINTS, dtype=np.int64)
    return {
        "kind": "number",
        "rows": len(x),
        "mean": float(x.mean()),
        "edges": inner.tolist(),
        "counts": bin_counts(x, inner).tolist(),
        "values": points.tolist(),
        "weights": weights.tolist(),
    }


def category_profile(values: pd.Series) -> dict[str, Any]:
    """A category's (or flag's) profile: its count per level."""
    counts = level_counts(values)
    if counts.sum() == 0:
        raise ValueError("cannot profile an empty column")
    return {
        "kind": "category",
        "rows": int(counts.sum()),
        "levels": counts.index.tolist(),
        "counts": [int(c) for c in counts],
    }


def feature_profile(values: pd.Series, *, numeric: bool, bins: int) -> dict[str, Any]:
    """The profile of one feature: a number's or a category's."""
    if numeric:
        return number_profile(values, bins=bins)
    return category_profile(values)


def build(table: pd.DataFrame, *, bins: int) -> dict[str, dict[str, Any]]:
    """The profile of every feature of the contract in `table`, by name."""
    return {
        name: feature_profile(table[name], numeric=name in NUMERIC, bins=bins)
        for name in contract.feature_names()
    }


def score_feature(entry: dict[str, Any], current: pd.Series) -> dict[str, Any]:
    """PSI and the feature's test (KS or chi-squared) of `current` against a profile."""
    if entry["kind"] == "number":
        x = current.to_numpy(float)
        ref = np.asarray(entry["counts"])
        cur = bin_counts(x, np.asarray(entry["edges"], float))
        sample = np.repeat(np.asarray(entry["values"], float), entry["weights"])
        test = stats.ks_2samp(sample, x)
        name, statistic, p_value = "ks", test.statistic, test.pvalue
    else:
        known = pd.Series(entry["counts"], index=entry["levels"])
        ref, cur = _aligned(known, level_counts(current))
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


def feature_drift(
    reference: pd.Series, current: pd.Series, *, numeric: bool, bins: int
) -> dict[str, Any]:
    """PSI and the feature's test (KS or chi-squared) for one feature."""
    entry = feature_profile(reference, numeric=numeric, bins=bins)
    return score_feature(entry, current)


def drifts(score: dict[str, Any], *, psi_threshold: float, p_value: float) -> bool:
    """The drift rule: PSI at or above its threshold, or a p-value below its own."""
    return bool(score["psi"] >= psi_threshold or score["p_value"] < p_value)


def compare(
    profile: dict[str, dict[str, Any]],
    current: pd.DataFrame,
    *,
    psi_threshold: float,
    p_value: float,
) -> dict[str, dict[str, Any]]:
    """Each profiled feature's scores for `current`, with its `drift` flag."""
    if current.empty:
        raise ValueError("drift needs rows in both the reference and the current data")
    features: dict[str, dict[str, Any]] = {}
    for name, entry in profile.items():
        score = score_feature(entry, current[name])
        score["drift"] = drifts(score, psi_threshold=psi_threshold, p_value=p_value)
        features[name] = score
    return features
