"""Slices of the test customers and the metrics computed within each."""

import numpy as np
import pandas as pd
import pytest

from churn.pipeline import prepare, slices


def test_tenure_bands_include_their_right_edge() -> None:
    bands = slices.tenure_band(pd.Series([0, 12, 13, 24, 25, 48, 49, 72]))
    assert bands.tolist() == [
        "0-12", "0-12", "13-24", "13-24", "25-48", "25-48", "49-72", "49-72"
    ]  # fmt: skip


def test_labels_of_prepared_rows(tiny: pd.DataFrame) -> None:
    members = slices.labels(prepare.clean(tiny))
    assert list(members.columns) == ["customer_id", *slices.COLUMNS]
    assert set(members["senior_citizen"]) <= {"no", "yes"}
    assert members["contract"].tolist() == tiny["contract"].tolist()


def test_labels_name_a_missing_column(tiny: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match="tenure"):
        slices.labels(tiny.drop(columns="tenure"))


def test_metrics_per_slice() -> None:
    members = pd.DataFrame(
        {
            "customer_id": [1, 2, 3, 4, 5],
            "contract": ["Month-to-month"] * 3 + ["Two year"] * 2,
            "internet_service": ["DSL"] * 5,
            "senior_citizen": ["no", "yes", "no", "no", "yes"],
            "tenure_band": ["0-12"] * 5,
        }
    )
    y = np.array([1, 0, 1, 0, 0])
    proba = np.array([0.9, 0.2, 0.4, 0.3, 0.6])
    out = slices.slices(members, y, proba, threshold=0.5)
    monthly = out["contract"]["Month-to-month"]
    assert monthly["rows"] == 3 and monthly["churn_rate"] == pytest.approx(2 / 3)
    assert monthly["roc_auc"] == 1.0 and monthly["recall"] == 0.5
    # A slice without churners has no ROC AUC; the other numbers remain.
    two_year = out["contract"]["Two year"]
    assert two_year["roc_auc"] is None and two_year["accuracy"] == 0.5
    assert sum(v["rows"] for v in out["senior_citizen"].values()) == 5


def test_slices_refuse_rows_that_do_not_line_up() -> None:
    members = pd.DataFrame({name: ["a"] for name in ["customer_id", *slices.COLUMNS]})
    with pytest.raises(ValueError, match="same rows"):
        slices.slices(members, np.array([1, 0]), np.array([0.5, 0.5]), threshold=0.5)
