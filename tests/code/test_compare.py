"""The retrained model against the previous one."""

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
    rows = pd.DataFrame({contract.ID: pd.array([1, 2, 3, 4], dtype="Int64")})
    kept = compare.previous_training_rows(rows, pd.Series([3, 4]))
    assert kept[contract.ID].tolist() == [1, 2]
