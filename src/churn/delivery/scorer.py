"""Churn probabilities for plain rows, without building a DataFrame.

scikit-learn spends most of a one-row `predict_proba` on pandas and input checks, not
on arithmetic. `Scorer` reads the learned parameters out of the fitted pipeline once
(the scaler's means and scales, the encoder's categories, the logistic regression's
weights) and applies the same arithmetic to dict rows. Any pipeline it does not know
how to compile is refused with `NotCompilable`; `Scorer.from_model` then falls back to
scikit-learn itself, so a new estimator still serves, just slower. The tests hold both
paths to the same probabilities, to 1e-9.
"""

from __future__ import annotations

import itertools
import logging
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from churn import contract

log = logging.getLogger(__name__)

Row = Mapping[str, Any]


class NotCompilable(ValueError):
    """A fitted pipeline with a step the fast path does not reproduce."""


@dataclass(frozen=True)
class _Numbers:
    columns: tuple[str, ...]
    start: int
    mean: np.ndarray
    scale: np.ndarray


@dataclass(frozen=True)
class _Categories:
    columns: tuple[str, ...]
    #: Per column: category -> output position; an unknown value encodes as zeros.
    positions: tuple[dict[Any, int], ...]


def _numbers(step: Any, columns: list[str], start: int) -> _Numbers:
    width = len(columns)
    # A fitted ColumnTransformer keeps "passthrough" as an identity FunctionTransformer.
    identity = isinstance(step, FunctionTransformer) and step.func is None
    if step == "passthrough" or identity:
        return _Numbers(tuple(columns), start, np.zeros(width), np.ones(width))
    if isinstance(step, StandardScaler):
        mean = step.mean_ if step.with_mean else np.zeros(width)
        scale = step.scale_ if step.with_std else np.ones(width)
        return _Numbers(
            tuple(columns), start, np.asarray(mean, float), np.asarray(scale, float)
        )
    raise NotCompilable(f"unsupported transformer {step!r} for {columns}")


def _categories(step: OneHotEncoder, columns: list[str], start: int) -> _Categories:
    if step.drop is not None or step.handle_unknown != "ignore":
        raise NotCompilable("OneHotEncoder must keep every level and ignore unknowns")
    if getattr(step, "infrequent_categories_", None) and any(
        c is not None for c in step.infrequent_categories_
    ):
        raise NotCompilable("OneHotEncoder with infrequent categories")
    positions = []
    for levels in step.categories_:
        if any(pd.isna(level) for level in levels):
            raise NotCompilable("OneHotEncoder learned a missing-value category")
        positions.append({level: start + i for i, level in enumerate(levels)})
        start += len(levels)
    return _Categories(tuple(columns), tuple(positions))


def _compile_features(features: ColumnTransformer) -> tuple[list[Any], int]:
    blocks: list[Any] = []
    start = 0
    for name, step, columns in features.transformers_:
        if step == "drop" or len(columns) == 0:
            continue
        if not all(isinstance(c, str) for c in columns):
            raise NotCompilable(f"transformer {name!r} selects columns by position")
        if isinstance(step, OneHotEncoder):
            block = _categories(step, list(columns), start)
            start += sum(len(p) for p in block.positions)
        else:
            block = _numbers(step, list(columns), start)
            start += len(block.columns)
        blocks.append(block)
    return blocks, start


class Scorer:
    """Probability of churn for rows shaped like `churn.delivery.schema.Customer`."""

    def __init__(self, model: Pipeline) -> None:
        if len(model.steps) != 2 or not isinstance(
            model.steps[0][1], ColumnTransformer
        ):
            raise NotCompilable("expected Pipeline([ColumnTransformer, estimator])")
        estimator = model.steps[-1][1]
        self.blocks, self.width = _compile_features(model.steps[0][1])
        if self.width != estimator.n_features_in_:
            raise NotCompilable(
                f"encoded {self.width} features, the estimator expects "
                f"{estimator.n_features_in_}"
            )
        if list(estimator.classes_) != [0, 1]:
            raise NotCompilable(f"expected classes [0, 1], got {estimator.classes_}")
        self._linear: tuple[np.ndarray, float] | None = None
        if isinstance(estimator, LogisticRegression):
            self._linear = (estimator.coef_[0].copy(), float(estimator.intercept_[0]))
        self.estimator = estimator
        self._inputs = tuple(col for block in self.blocks for col in block.columns)
        if len(self._inputs) < 2:
            raise NotCompilable("fewer than two input columns")
        self._pick = operator.itemgetter(*self._inputs)

    def encode(self, rows: Sequence[Row]) -> np.ndarray:
        """The feature matrix the fitted ColumnTransformer would produce."""
        if len(rows) == 1:
            return self._encode_one(rows[0])
        if not rows:
            return np.zeros((0, self.width))
        # One pass over the rows, then whole columns at a time.
        values = zip(*map(self._pick, rows), strict=True)
        return self.encode_columns(dict(zip(self._inputs, values, strict=True)))

    def encode_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """`encode` for a batch given column by column: name -> values, in row order."""
        n = len(columns[self._inputs[0]])
        out = np.zeros((n, self.width))
        everyone = np.arange(n)
        for block in self.blocks:
            if isinstance(block, _Numbers):
                stop = block.start + len(block.columns)
                for j, col in enumerate(block.columns):
                    out[:, block.start + j] = np.array(columns[col], dtype=float)
                # A blank (None, so NaN by now) is allowed only for a not-yet-billed
                # customer's total charges (churn.delivery.schema), which
                # `churn.data.cleaning.clean` sets to 0.
                np.nan_to_num(out[:, block.start : stop], copy=False, nan=0.0)
                out[:, block.start : stop] -= block.mean
                out[:, block.start : stop] /= block.scale
                continue
            for col, positions in zip(block.columns, block.positions, strict=True):
                # map() keeps the per-value lookup in C; -1 marks an unknown level.
                codes = np.array(
                    list(map(positions.get, columns[col], itertools.repeat(-1, n))),
                    dtype=np.intp,
                )
                known = codes >= 0
                out[everyone[known], codes[known]] = 1.0
        return out

    def _encode_one(self, row: Row) -> np.ndarray:
        # The same arithmetic as `encode` for one row, without the column set-up
        # that only pays off for batches.
        out = np.zeros((1, self.width))
        x = out[0]
        for block in self.blocks:
            if isinstance(block, _Numbers):
                values = np.array([row[col] for col in block.columns], dtype=float)
                np.nan_to_num(values, copy=False, nan=0.0)
                values -= block.mean
                values /= block.scale
                x[block.start : block.start + len(block.columns)] = values
                continue
            for col, positions in zip(block.columns, block.positions, strict=True):
                position = positions.get(row[col])
                if position is not None:
                    x[position] = 1.0
        return out

    def proba(self, rows: Sequence[Row]) -> np.ndarray:
        """Probability of churn for each row, in order."""
        return self._proba(self.encode(rows))

    def proba_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Probability of churn for a batch given column by column."""
        if len(columns[self._inputs[0]]) == 1:
            return self._proba(self._encode_one({k: v[0] for k, v in columns.items()}))
        return self._proba(self.encode_columns(columns))

    def _proba(self, X: np.ndarray) -> np.ndarray:
        if self._linear is not None:
            weights, intercept = self._linear
            # The same arithmetic as LogisticRegression.predict_proba for 2 classes.
            return expit(X @ weights + intercept)
        return self.estimator.predict_proba(X)[:, 1]


class SklearnScorer:
    """The reference path: a DataFrame through the fitted pipeline itself."""

    def __init__(self, model: Pipeline) -> None:
        self.model = model

    def proba(self, rows: Sequence[Row]) -> np.ndarray:
        """Probability of churn for each row, in order."""
        return self._proba(
            pd.DataFrame.from_records(rows, columns=contract.feature_names())
        )

    def proba_columns(self, columns: Mapping[str, Sequence[Any]]) -> np.ndarray:
        """Probability of churn for a batch given column by column."""
        names = contract.feature_names()
        return self._proba(pd.DataFrame({name: columns[name] for name in names}))

    def _proba(self, frame: pd.DataFrame) -> np.ndarray:
        nullable = [c.name for c in contract.COLUMNS if c.nullable]
        frame[nullable] = frame[nullable].astype("float64").fillna(0.0)
        return self.model.predict_proba(frame)[:, 1]


def from_model(model: Pipeline) -> Scorer | SklearnScorer:
    """The fast scorer for `model`, or scikit-learn's own path if it cannot compile."""
    try:
        return Scorer(model)
    except NotCompilable as exc:
        log.warning("serving through scikit-learn (slower): %s", exc)
        return SklearnScorer(model)
