"""Plot data of the `evaluate` stage: curves, calibration and permutation importance.

Every value is rounded to `DIGITS`, so that the committed plot files diff cleanly
and carry no float noise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.compose import ColumnTransformer
from sklearn.inspection import permutation_importance
from sklearn.metrics import check_scoring
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.utils import check_random_state

#: Digits kept in metrics and plot files: stable diffs, no float noise.
DIGITS = 6


def rounded(value: float) -> float:
    """`value` as a plain float, rounded to `DIGITS`."""
    return round(float(value), DIGITS)


#: Most vertices a curve keeps. A curve has a vertex per distinct score, so on a
#: million rows its file would run to megabytes; a few hundred vertices chosen by
#: score quantile draw the same picture, and the file stays small at any size.
CURVE_POINTS = 400


def curve_vertices(
    thresholds: np.ndarray, proba: np.ndarray, points: int
) -> np.ndarray:
    """Indices of at most `points` vertices of a curve, one per score quantile.

    `thresholds` are the curve's, in decreasing order, one per vertex. Each kept
    vertex is a vertex of the full curve, and consecutive ones lie at most a
    `1 / points` share of the rows apart, so the shape holds. Both ends are kept.
    A curve of `points` vertices or fewer is returned whole.
    """
    n = len(thresholds)
    if n <= points:
        return np.arange(n)
    levels = np.quantile(proba, np.linspace(1.0, 0.0, points - 2))
    # The first vertex whose threshold is at or below each level, in curve order.
    inner = np.searchsorted(-thresholds, -levels, side="left").clip(0, n - 1)
    return np.unique(np.concatenate(([0, n - 1], inner)))


def roc_points(
    y: np.ndarray, proba: np.ndarray, *, points: int = CURVE_POINTS
) -> list[dict[str, float]]:
    """The ROC curve as rows of false/true positive rate and threshold.

    At most `points` vertices (see `curve_vertices`); the ROC AUC of the metrics
    is computed on every row, never on this reduced curve.
    """
    fpr, tpr, thr = skm.roc_curve(y, proba, drop_intermediate=True)
    keep = curve_vertices(thr, proba, points)
    thr = np.minimum(thr, 1.0)  # sklearn puts +inf first; 1.0 keeps the JSON valid
    return [
        {"fpr": rounded(fpr[i]), "tpr": rounded(tpr[i]), "threshold": rounded(thr[i])}
        for i in keep
    ]


def pr_points(
    y: np.ndarray, proba: np.ndarray, *, points: int = CURVE_POINTS
) -> list[dict[str, float]]:
    """The precision-recall curve as rows of recall and precision.

    At most `points` vertices, chosen as for the ROC curve.
    """
    precision, recall, thr = skm.precision_recall_curve(
        y, proba, drop_intermediate=True
    )
    # sklearn orders thresholds upwards and gives the last vertex (recall 0) none.
    by_threshold = np.append(thr, np.inf)[::-1]
    keep = len(precision) - 1 - curve_vertices(by_threshold, proba, points)[::-1]
    return [
        {"recall": rounded(recall[i]), "precision": rounded(precision[i])} for i in keep
    ]


def calibration_points(
    y: np.ndarray, proba: np.ndarray, *, bins: int
) -> list[dict[str, float]]:
    """Observed churn share against mean predicted probability per quantile bin."""
    observed, predicted = calibration_curve(y, proba, n_bins=bins, strategy="quantile")
    return [
        {"predicted": rounded(p), "observed": rounded(o)}
        for p, o in zip(predicted, observed, strict=True)
    ]


def _one_per_input(transformer: Any) -> bool:
    """Whether `transformer` maps each input column to one output column alone."""
    if isinstance(transformer, str):
        return transformer == "passthrough"
    if isinstance(transformer, FunctionTransformer):
        # A fitted ColumnTransformer stands an identity FunctionTransformer in
        # for "passthrough"; any other function may mix columns.
        return transformer.func is None
    return isinstance(transformer, StandardScaler)


def _widths(transformer: Any, n_inputs: int) -> list[int] | None:
    """Encoded columns per input column of `transformer`, or None if not separable."""
    if _one_per_input(transformer):
        return [1] * n_inputs
    if (
        isinstance(transformer, OneHotEncoder)
        and transformer.drop is None
        and transformer.min_frequency is None
        and transformer.max_categories is None
    ):
        return [len(levels) for levels in transformer.categories_]
    return None


def encoded_blocks(
    features: ColumnTransformer, columns: Sequence[str]
) -> list[np.ndarray] | None:
    """Encoded column indices each of `columns` produces, in their order.

    None when a transformer is not known to encode each input column on its own,
    or its widths do not match its output: shuffling blocks would then be wrong.
    """
    blocks: dict[str, list[int]] = {name: [] for name in columns}
    for name, transformer, inputs in features.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        # Slices, masks and positions would need resolving; the fallback does that.
        if not isinstance(inputs, list | tuple | np.ndarray | pd.Index) or not all(
            isinstance(c, str) for c in inputs
        ):
            return None
        if not len(inputs):
            continue
        span = features.output_indices_[name]
        widths = _widths(transformer, len(inputs))
        if widths is None or sum(widths) != span.stop - span.start:
            return None
        start = span.start
        for column, width in zip(inputs, widths, strict=True):
            if column in blocks:
                blocks[column].extend(range(start, start + width))
            start += width
    return [np.array(sorted(blocks[name]), dtype=np.intp) for name in columns]


def permutation_seed(seed: int) -> int:
    """The seed sklearn's permutation importance draws once and gives every column."""
    return int(check_random_state(seed).randint(np.iinfo(np.int32).max + 1))


def _with_rows(
    encoded: np.ndarray | sparse.csc_matrix,
    block: np.ndarray,
    rows: np.ndarray,
    work: np.ndarray | None,
) -> Any:
    """`encoded` with the rows of the `block` columns taken in the order `rows`."""
    if work is not None:
        # Dense: overwrite the block of one working copy instead of copying the
        # whole matrix on every repeat.
        work[:, block] = encoded[np.ix_(rows, block)]
        return work
    rest = np.setdiff1d(np.arange(encoded.shape[1]), block)
    stacked = sparse.hstack([encoded[:, rest], encoded[:, block][rows]], format="csc")
    out = stacked[:, np.argsort(np.concatenate([rest, block]))].tocsr()
    out.sort_indices()
    return out


def column_scores(
    score: Callable[[Any], float],
    encoded: np.ndarray | sparse.csc_matrix,
    block: np.ndarray,
    *,
    repeats: int,
    seed: int,
) -> np.ndarray:
    """Scores with the rows of one input column's encoded block shuffled, per repeat.

    The shuffles are sklearn's: a fresh RandomState(seed) per column, one index
    array shuffled in place each repeat and applied to the already shuffled column.
    """
    rng = np.random.RandomState(seed)
    order = np.arange(encoded.shape[0])
    rows = np.arange(encoded.shape[0])
    work = None if sparse.issparse(encoded) else encoded.copy(order="K")
    out = []
    for _ in range(repeats):
        rng.shuffle(order)
        rows = rows[order]
        out.append(score(_with_rows(encoded, block, rows, work)))
    return np.array(out)


def encoded_importance(
    model: Pipeline, X: pd.DataFrame, y: np.ndarray, *, repeats: int, seed: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """Mean and std of the drop in ROC AUC per column of `X`, or None if unsupported.

    Equals sklearn's `permutation_importance` on the whole pipeline: the encoding
    is row-wise, so shuffling an input column's rows shuffles the rows of the
    encoded columns it produced. Encoding once spares re-running the one-hot
    encoder (slow on Arrow strings) for every column and repeat.
    """
    if not (
        isinstance(model, Pipeline)
        and len(model.steps) == 2
        and isinstance(model.steps[0][1], ColumnTransformer)
        and isinstance(X, pd.DataFrame)
    ):
        return None
    features, estimator = model.steps[0][1], model.steps[1][1]
    blocks = encoded_blocks(features, list(X.columns))
    if blocks is None:
        return None
    encoded = features.transform(X)
    if not (sparse.issparse(encoded) or isinstance(encoded, np.ndarray)):
        return None
    scorer = check_scoring(estimator, scoring="roc_auc")

    def score(matrix: Any) -> float:
        return scorer(estimator, matrix, y)

    baseline = score(encoded)
    if sparse.issparse(encoded):
        # Column slices are cheap in CSC; the blocks are put back as CSR below.
        encoded = encoded.tocsc()
    random_seed = permutation_seed(seed)
    permuted = np.array(
        [
            column_scores(score, encoded, block, repeats=repeats, seed=random_seed)
            if len(block)
            else np.full(repeats, baseline)
            for block in blocks
        ]
    )
    drops = baseline - permuted
    return np.mean(drops, axis=1), np.std(drops, axis=1)


def importance(
    model: Pipeline,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    repeats: int,
    seed: int,
) -> list[dict[str, float | str]]:
    """Permutation importance (drop in ROC AUC) of each input column, largest first."""
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    found = encoded_importance(model, X, y, repeats=repeats, seed=seed)
    if found is None:
        result = permutation_importance(
            model,
            X,
            y,
            scoring="roc_auc",
            n_repeats=repeats,
            random_state=seed,
            n_jobs=1,
        )
        found = result.importances_mean, result.importances_std
    means, stds = found
    rows = [
        {"feature": name, "importance": rounded(mean), "std": rounded(std)}
        for name, mean, std in zip(X.columns, means, stds, strict=True)
    ]
    return sorted(rows, key=lambda r: (-r["importance"], r["feature"]))
