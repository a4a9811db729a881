"""Metrics and plot data from predictions with a known answer."""

import numpy as np
import pandas as pd
import pytest

from churn import evaluate

Y = np.array([0, 0, 1, 1])


def test_perfect_ranking() -> None:
    out = evaluate.scores(Y, np.array([0.1, 0.2, 0.8, 0.9]), threshold=0.5)
    assert out["roc_auc"] == 1.0 and out["pr_auc"] == 1.0
    assert out["accuracy"] == 1.0 and out["f1"] == 1.0
    assert out["brier"] == pytest.approx((0.01 + 0.04 + 0.04 + 0.01) / 4)


def test_threshold_moves_precision_and_recall() -> None:
    proba = np.array([0.1, 0.6, 0.4, 0.9])
    assert evaluate.scores(Y, proba, threshold=0.5)["recall"] == 0.5
    assert evaluate.scores(Y, proba, threshold=0.3)["recall"] == 1.0


def test_single_class_is_refused() -> None:
    with pytest.raises(ValueError, match="single class"):
        evaluate.scores(np.zeros(4), np.array([0.1, 0.2, 0.3, 0.4]), threshold=0.5)


def test_curves_are_json_ready() -> None:
    proba = np.array([0.1, 0.6, 0.4, 0.9])
    roc = evaluate.roc_points(Y, proba)
    assert roc[0] == {"fpr": 0.0, "tpr": 0.0, "threshold": 1.0}
    assert roc[-1]["fpr"] == 1.0 and roc[-1]["tpr"] == 1.0
    pr = evaluate.pr_points(Y, proba)
    assert all(set(p) == {"recall", "precision"} for p in pr)


def test_importance_ranks_the_informative_column() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=400), "noise": rng.normal(size=400)})
    y = (X["signal"] > 0).astype(int).to_numpy()
    model = LogisticRegression().fit(X, y)
    rows = evaluate.importance(model, X, y, repeats=3, seed=0)
    assert [r["feature"] for r in rows] == ["signal", "noise"]
    assert rows[0]["importance"] > 0.3 > abs(rows[1]["importance"])
