"""The retrained model against the previous one."""

import logging

import numpy as np
import pandas as pd
import pytest

from churn import contract
from churn.pipeline import compare


class Fixed:
    """A stand-in model whose churn probabilities are given."""

    def __init__(self, proba: list[float]) -> None:
        self.proba = np.array(proba)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        assert list(X.columns) == contract.feature_names()
        return np.column_stack([1 - self.proba, self.proba])


@pytest.fixture()
def test_rows() -> pd.DataFrame:
    rows = pd.DataFrame({name: [0.0] * 4 for name in contract.feature_names()})
    return rows.assign(**{contract.TARGET: [0, 0, 1, 1]})


GOOD = Fixed([0.1, 0.2, 0.8, 0.9])
POOR = Fixed([0.1, 0.9, 0.2, 0.8])


def _compare(current, previous, rows, tolerance=0.005):
    return compare.compare(
        current, previous, rows, threshold=0.5, metric="roc_auc", tolerance=tolerance
    )


def test_better_model_is_called_better(test_rows) -> None:
    out = _compare(GOOD, POOR, test_rows)
    assert out["current"]["roc_auc"] == 1.0 and out["previous"]["roc_auc"] == 0.5
    assert out["delta"]["roc_auc"] == 0.5 and out["verdict"] == "better"
    assert out["test_rows"] == 4


def test_worse_and_same(test_rows) -> None:
    assert _compare(POOR, GOOD, test_rows)["verdict"] == "worse"
    assert _compare(GOOD, GOOD, test_rows)["verdict"] == "same"
    assert _compare(POOR, GOOD, test_rows, tolerance=0.6)["verdict"] == "same"


def test_first_month_has_no_previous_model(test_rows) -> None:
    out = _compare(GOOD, None, test_rows)
    assert out["verdict"] == "no previous model" and out["previous"] is None


def test_previous_training_rows_leave_out_the_newest_month() -> None:
    rows = pd.DataFrame(
        {
            contract.ID: pd.array([1, 2, 3, 4], dtype="Int64"),
            contract.MONTH: pd.array([1, 2, 3, 3], dtype="Int64"),
        }
    )
    kept = compare.previous_training_rows(rows, month=3)
    assert kept[contract.ID].tolist() == [1, 2]
    assert compare.previous_training_rows(rows, month=1).empty


def test_no_previous_model_without_two_classes_of_earlier_rows(tiny) -> None:
    params = {"estimator": "logistic_regression"}
    assert compare.rebuild_previous(tiny.head(0), params=params, seed=0) is None
    one_class = tiny.assign(**{contract.TARGET: 0})
    assert compare.rebuild_previous(one_class, params=params, seed=0) is None


def test_previous_model_is_trained_on_the_earlier_rows(tiny) -> None:
    from churn.data.cleaning import clean

    rows = clean(tiny)
    model = compare.rebuild_previous(
        rows, params={"estimator": "logistic_regression"}, seed=0
    )
    assert model is not None and model.n_features_in_ == len(contract.feature_names())


def test_report_says_which_months_each_model_saw(test_rows) -> None:
    out = compare.report(_compare(GOOD, POOR, test_rows), month=5, tolerance=0.005)
    assert list(out)[:6] == [
        "months",
        "previous_months",
        "test_rows",
        "metric",
        "tolerance",
        "verdict",
    ]
    assert (out["months"], out["previous_months"], out["verdict"]) == (5, 4, "better")
    first = compare.report(_compare(GOOD, None, test_rows), month=1, tolerance=0.0)
    assert first["previous_months"] is None


def test_headline_keeps_the_verdict_and_one_metric(test_rows) -> None:
    out = compare.report(_compare(GOOD, POOR, test_rows), month=5, tolerance=0.005)
    assert compare.headline(out) == {
        "verdict": "better",
        "metric": "roc_auc",
        "current": out["current"]["roc_auc"],
        "previous": out["previous"]["roc_auc"],
        "delta": out["delta"]["roc_auc"],
    }
    first = compare.report(_compare(GOOD, None, test_rows), month=1, tolerance=0.0)
    assert compare.headline(first) == {
        "verdict": "no previous model",
        "metric": "roc_auc",
        "current": first["current"]["roc_auc"],
        "previous": None,
        "delta": None,
    }


def test_messages_warn_when_the_retrained_model_is_worse(test_rows) -> None:
    worse = compare.report(_compare(POOR, GOOD, test_rows), month=5, tolerance=0.005)
    assert compare.messages(worse) == [
        (logging.INFO, "months 1-5 vs 1-4, roc_auc on 4 test rows: worse"),
        (
            logging.WARNING,
            "the model retrained on month 5 is worse than the previous one: "
            "roc_auc 1.0000 -> 0.5000",
        ),
    ]
    same = compare.report(_compare(GOOD, GOOD, test_rows), month=5, tolerance=0.005)
    assert [level for level, _ in compare.messages(same)] == [logging.INFO]
