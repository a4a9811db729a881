"""Is a metric difference real? Paired bootstrap intervals of PR minus `main`.

Both models scored the same test customers. Resampling those customers (the same
resample for both models) and recomputing each metric gives the spread of the
difference that comes from which customers happened to land in the test split. A
95% interval that excludes 0 is "significant"; one that contains 0 is "within noise".

The metrics are computed in vectorised NumPy over many resamples at once, with the
same definitions as scikit-learn (`tests/code/test_stats.py` checks they agree).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

# NumPy and pandas are imported in the functions that compute: the commands
# that only read the metric names here answer `--help` without loading them.
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)

#: Headline metrics and whether a higher value is better.
HIGHER_IS_BETTER: dict[str, bool] = {
    "roc_auc": True,
    "pr_auc": True,
    "f1": True,
    "precision": True,
    "recall": True,
    "accuracy": True,
    "log_loss": False,
    "brier": False,
}
METRICS = tuple(HIGHER_IS_BETTER)

#: Resamples per batch: bounds memory at a few MB per array on the full test split.
_BATCH = 200
#: Most cells (resamples x rows) one batch of `bootstrap_interval` holds.
_CELLS = 2_000_000


def batch_metrics(
    y: np.ndarray,
    score: np.ndarray,
    *,
    threshold: float,
    metrics: tuple[str, ...] = METRICS,
) -> dict[str, np.ndarray]:
    """Each metric of `metrics` for each row of `y`/`score` (shape resamples x rows).

    Only those asked for are computed. Ranking metrics are NaN for a resample that
    holds a single class.
    """
    import numpy as np

    y = np.asarray(y, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    n = y.shape[1]
    pos = y.sum(axis=1).astype(np.float64)
    neg = n - pos
    wanted = set(metrics)
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        if wanted & {"roc_auc", "pr_auc"}:
            # One sort, highest score first, serves both ranking metrics.
            order = np.argsort(-score, axis=1, kind="stable")
            ys = np.take_along_axis(y, order, axis=1)
            ss = np.take_along_axis(score, order, axis=1)
            position = np.arange(n)
            first = np.ones_like(ss, dtype=bool)
            first[:, 1:] = ss[:, 1:] != ss[:, :-1]
            last = np.ones_like(ss, dtype=bool)
            last[:, :-1] = first[:, 1:]
            # The last position of the tie group of equal scores each one is in.
            group_end = np.minimum.accumulate(
                np.where(last, position, n)[:, ::-1], axis=1
            )[:, ::-1]
        if "roc_auc" in wanted:
            # ROC AUC as the Mann-Whitney statistic: a score's rank from the lowest,
            # ties sharing their average rank.
            group_start = np.maximum.accumulate(np.where(first, position, 0), axis=1)
            ranks = n - (group_start + group_end) / 2
            roc = ((ranks * ys).sum(axis=1) - pos * (pos + 1) / 2) / (pos * neg)
            out["roc_auc"] = np.where((pos == 0) | (neg == 0), np.nan, roc)
        if "pr_auc" in wanted:
            # Average precision as scikit-learn defines it: precision at each
            # distinct threshold, weighted by the recall gained there.
            tps = np.cumsum(ys, axis=1)
            precision_at = tps / np.arange(1, n + 1)
            at_end = np.take_along_axis(precision_at, group_end, axis=1)
            out["pr_auc"] = np.where(pos == 0, np.nan, (ys * at_end).sum(1) / pos)
        if wanted & {"f1", "precision", "recall", "accuracy"}:
            pred = score >= threshold
            tp = (pred & (y == 1)).sum(axis=1)
            fp = (pred & (y == 0)).sum(axis=1)
            fn = (~pred & (y == 1)).sum(axis=1)
            out["precision"] = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
            out["recall"] = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
            f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
            out["f1"] = f1
            out["accuracy"] = (pred == (y == 1)).sum(axis=1) / n
    if "log_loss" in wanted:
        eps = np.finfo(np.float64).eps
        clipped = np.clip(score, eps, 1 - eps)
        loss = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)).mean(axis=1)
        out["log_loss"] = loss
    if "brier" in wanted:
        out["brier"] = ((score - y) ** 2).mean(axis=1)
    return {m: out[m] for m in metrics}


def metric_values(
    y: np.ndarray, score: np.ndarray, *, threshold: float
) -> dict[str, float]:
    """Every headline metric of one set of scores (NaN where undefined)."""
    import numpy as np

    out = batch_metrics(
        np.asarray(y)[None, :], np.asarray(score)[None, :], threshold=threshold
    )
    return {name: float(values[0]) for name, values in out.items()}


@dataclass(frozen=True)
class Interval:
    """PR minus `main` for one metric, with its bootstrap confidence interval."""

    metric: str
    base: float
    pr: float
    low: float
    high: float
    level: float = 0.95

    @property
    def delta(self) -> float:
        """PR minus `main` on the shared rows."""
        return self.pr - self.base

    @property
    def significant(self) -> bool:
        """True when the interval excludes 0."""
        return bool(self.low > 0 or self.high < 0)

    @property
    def worse(self) -> bool:
        """True when the PR is significantly worse on this metric."""
        if not self.significant:
            return False
        return (self.high < 0) if HIGHER_IS_BETTER[self.metric] else (self.low > 0)

    @property
    def label(self) -> str:
        """ "significant" or "within noise", the words the report uses."""
        return "significant" if self.significant else "within noise"


def paired_bootstrap(
    y: np.ndarray,
    base: np.ndarray,
    pr: np.ndarray,
    *,
    thresholds: tuple[float, float] = (0.5, 0.5),
    metrics: tuple[str, ...] = METRICS,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> dict[str, Interval]:
    """Percentile intervals of PR minus base for each metric, over `resamples`
    paired resamples of the rows (same rows for both models). Deterministic in
    `seed`. `thresholds` are the (base, PR) decision thresholds.
    """
    import numpy as np

    y, base, pr = (np.asarray(a) for a in (y, base, pr))
    if not len(y) == len(base) == len(pr):
        raise ValueError("labels and both sets of scores must have the same length")
    if len(y) == 0:
        raise ValueError("no shared rows to compare")
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise KeyError(f"unknown metric(s) {unknown}; known: {list(METRICS)}")
    rng = np.random.default_rng(seed)
    deltas: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    done = 0
    while done < resamples:
        size = min(_BATCH, resamples - done)
        idx = rng.integers(0, len(y), size=(size, len(y)))
        old = batch_metrics(y[idx], base[idx], threshold=thresholds[0], metrics=metrics)
        new = batch_metrics(y[idx], pr[idx], threshold=thresholds[1], metrics=metrics)
        for m in metrics:
            deltas[m].append(new[m] - old[m])
        done += size
    point_base = metric_values(y, base, threshold=thresholds[0])
    point_pr = metric_values(y, pr, threshold=thresholds[1])
    tail = (1 - level) / 2 * 100
    out = {}
    for m in metrics:
        d = np.concatenate(deltas[m])
        d = d[~np.isnan(d)]
        low, high = np.percentile(d, [tail, 100 - tail]) if len(d) else (np.nan,) * 2
        out[m] = Interval(m, point_base[m], point_pr[m], float(low), float(high), level)
    log.debug("bootstrapped %d metrics over %d resamples", len(metrics), resamples)
    return out


def align(base: pd.DataFrame, pr: pd.DataFrame, *, key: str) -> pd.DataFrame:
    """The rows both prediction tables share, by `key`: columns key, label,
    score_base, score_pr. Rows whose label changed between the two are dropped."""
    import pandas as pd

    for name, frame in (("base", base), ("PR", pr)):
        missing = [c for c in (key, "label", "score") if c not in frame.columns]
        if missing:
            raise KeyError(f"{name} predictions lack column(s) {missing}")
    both = base.merge(pr, on=key, suffixes=("_base", "_pr"), validate="one_to_one")
    same = both["label_base"] == both["label_pr"]
    if not same.all():
        log.warning("%d shared rows changed label; leaving them out", (~same).sum())
    both = both[same]
    return pd.DataFrame(
        {
            key: both[key].to_numpy(),
            "label": both["label_pr"].to_numpy(),
            "score_base": both["score_base"].to_numpy(),
            "score_pr": both["score_pr"].to_numpy(),
        }
    )


def bootstrap_interval(
    y: np.ndarray,
    score: np.ndarray,
    *,
    metric: str = "roc_auc",
    threshold: float = 0.5,
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """One model's `metric` and the percentile interval of `resamples` resamples of
    its rows: `(value, low, high)`. Deterministic in `seed`."""
    import numpy as np

    y, score = np.asarray(y), np.asarray(score)
    if len(y) != len(score) or len(y) == 0:
        raise ValueError("labels and scores must be non-empty and of one length")
    if metric not in METRICS:
        raise KeyError(f"unknown metric {metric!r}; known: {list(METRICS)}")
    rng = np.random.default_rng(seed)
    values: list[np.ndarray] = []
    done = 0
    while done < resamples:
        # Fewer resamples at once for many rows: memory stays at a few MB an array.
        size = min(_BATCH, resamples - done, max(1, _CELLS // len(y)))
        idx = rng.integers(0, len(y), size=(size, len(y)))
        found = batch_metrics(
            y[idx], score[idx], threshold=threshold, metrics=(metric,)
        )
        values.append(found[metric])
        done += size
    spread = np.concatenate(values)
    spread = spread[~np.isnan(spread)]
    point = metric_values(y, score, threshold=threshold)[metric]
    if not len(spread):
        return point, float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(spread, [tail, 100 - tail])
    return point, float(low), float(high)
