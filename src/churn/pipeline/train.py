"""Stage `train`: fit the churn model (preprocessing + estimator) on the train split."""

from __future__ import annotations

import argparse
import importlib
import logging
from typing import TYPE_CHECKING, Any

from churn import config, contract, model_io

# pandas and scikit-learn are imported where they are used, so that
# `churn train --help` answers without loading them.
if TYPE_CHECKING:
    import pandas as pd
    from sklearn.base import BaseEstimator
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

#: Each estimator `params.yaml` may name, and its scikit-learn class: by import path,
#: so that `churn train --help` loads no scikit-learn (see `estimator_class`).
ESTIMATORS = {
    "logistic_regression": "sklearn.linear_model.LogisticRegression",
    "hist_gradient_boosting": "sklearn.ensemble.HistGradientBoostingClassifier",
}


def estimator_class(name: str) -> type[BaseEstimator]:
    """The scikit-learn class of estimator `name` (a key of `ESTIMATORS`)."""
    module, _, cls = ESTIMATORS[name].rpartition(".")
    return getattr(importlib.import_module(module), cls)


def build(params: dict[str, Any], seed: int) -> Pipeline:
    """An unfitted pipeline for the estimator named in `params["estimator"]`.

    Numbers are standardised, 0/1 flags pass through, categories are one-hot
    encoded (a level unseen in training encodes as all zeros rather than failing).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    name = params["estimator"]
    if name not in ESTIMATORS:
        raise ValueError(
            f"unknown estimator {name!r}; choose one of {list(ESTIMATORS)}"
        )
    hyper = dict(params.get(name) or {})
    estimator = estimator_class(name)(random_state=seed, **hyper)
    features = ColumnTransformer(
        [
            ("numbers", StandardScaler(), contract.features_of("integer", "number")),
            ("flags", "passthrough", contract.features_of("flag")),
            (
                "categories",
                OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                contract.features_of("category"),
            ),
        ],
        verbose_feature_names_out=False,
    )
    return Pipeline([("features", features), ("model", estimator)])


def train(
    X: pd.DataFrame, y: pd.Series, *, params: dict[str, Any], seed: int
) -> Pipeline:
    """Fit the pipeline described by `params` on features `X` and labels `y`."""
    missing = [c for c in contract.feature_names() if c not in X.columns]
    if missing:
        raise KeyError(f"missing feature column(s) {missing}")
    if y.nunique() < 2:
        raise ValueError("the training labels hold a single class; cannot fit")
    model = build(params, seed)
    log.info("fitting %s on %d rows", params["estimator"], len(X))
    return model.fit(X[contract.feature_names()], y)


def main(argv: list[str] | None = None) -> int:
    """Entry point: train on the train split, save the model."""
    argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn train",
        description=__doc__,
    ).parse_args(argv)
    import pandas as pd

    config.setup_logging()
    params = config.load_params()
    data = pd.read_parquet(config.TRAIN_DATA)
    model = train(
        data.drop(columns=[contract.TARGET]),
        data[contract.TARGET],
        params=params["train"],
        seed=params["seed"],
    )
    model_io.save(model, config.MODEL_FILE)
    log.info("saved %s", config.MODEL_FILE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
