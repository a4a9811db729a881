"""Building and fitting the model pipeline."""

import pandas as pd
import pytest

from churn import contract
from churn.pipeline import prepare, train

PARAMS = {
    "estimator": "logistic_regression",
    "logistic_regression": {"C": 1.0, "max_iter": 1000},
    "hist_gradient_boosting": {"max_iter": 20},
}


@pytest.mark.parametrize("estimator", sorted(train.ESTIMATORS))
def test_each_estimator_fits_and_predicts(tiny: pd.DataFrame, estimator: str) -> None:
    data = prepare.clean(tiny)
    X, y = data.drop(columns=[contract.TARGET]), data[contract.TARGET]
    model = train.train(X, y, params={**PARAMS, "estimator": estimator}, seed=0)
    proba = model.predict_proba(X[contract.feature_names()])[:, 1]
    assert proba.shape == (6,) and ((proba >= 0) & (proba <= 1)).all()


def test_unknown_estimator() -> None:
    with pytest.raises(ValueError, match="unknown estimator 'svm'"):
        train.build({"estimator": "svm"}, seed=0)


def test_hyperparameters_reach_the_estimator() -> None:
    model = train.build({**PARAMS, "logistic_regression": {"C": 0.25}}, seed=3)
    assert model.named_steps["model"].C == 0.25
    assert model.named_steps["model"].random_state == 3


def test_missing_feature_is_named(tiny: pd.DataFrame) -> None:
    data = prepare.clean(tiny)
    with pytest.raises(KeyError, match="contract"):
        train.train(
            data.drop(columns=["contract"]),
            data[contract.TARGET],
            params=PARAMS,
            seed=0,
        )


def test_single_class_is_refused(tiny: pd.DataFrame) -> None:
    data = prepare.clean(tiny)
    y = pd.Series(0, index=data.index)
    with pytest.raises(ValueError, match="single class"):
        train.train(data, y, params=PARAMS, seed=0)
