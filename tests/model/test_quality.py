"""The default model on the bundled data: good enough, deterministic, safely stored."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from churn import config, contract, model_io
from churn.pipeline import evaluate, train


def _fit(train_df: pd.DataFrame, estimator: str | None = None):
    params = config.load_params()
    hyper = dict(params["train"])
    if estimator:
        hyper["estimator"] = estimator
    X = train_df.drop(columns=[contract.TARGET])
    return train.train(X, train_df[contract.TARGET], params=hyper, seed=params["seed"])


def _proba(model, test_df: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(test_df[contract.feature_names()])[:, 1]


def test_default_model_reaches_published_auc(splits) -> None:
    train_df, test_df = splits
    proba = _proba(_fit(train_df), test_df)
    auc = evaluate.scores(test_df[contract.TARGET].to_numpy(), proba, threshold=0.5)
    assert auc["roc_auc"] >= 0.84


@pytest.mark.parametrize("estimator", ["logistic_regression", "hist_gradient_boosting"])
def test_training_is_deterministic(splits, estimator: str) -> None:
    train_df, test_df = splits
    first = _proba(_fit(train_df, estimator), test_df)
    second = _proba(_fit(train_df, estimator), test_df)
    assert np.array_equal(first, second)


@pytest.mark.parametrize("estimator", ["logistic_regression", "hist_gradient_boosting"])
def test_saved_model_round_trips(splits, tmp_path: Path, estimator: str) -> None:
    train_df, test_df = splits
    model = _fit(train_df, estimator)
    path = tmp_path / "model.skops"
    model_io.save(model, path)
    assert np.array_equal(_proba(model_io.load(path), test_df), _proba(model, test_df))


def test_same_training_gives_the_same_model_file(splits, tmp_path: Path) -> None:
    # Byte-identical files keep dvc.lock stable when the same run is repeated.
    train_df, _ = splits
    first, second = tmp_path / "first.skops", tmp_path / "second.skops"
    model_io.save(_fit(train_df, "hist_gradient_boosting"), first)
    model_io.save(_fit(train_df, "hist_gradient_boosting"), second)
    assert first.read_bytes() == second.read_bytes()


def test_model_with_untrusted_types_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    sio.dump({"payload": Path("/etc/passwd")}, path)
    with pytest.raises(model_io.UntrustedModelError, match="pathlib"):
        model_io.load(path)
