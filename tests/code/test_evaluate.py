"""Metrics and plot data from predictions with a known answer."""

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from churn import contract
from churn.pipeline import evaluate, plots
from delivery_helpers import fitted, split

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
    roc = plots.roc_points(Y, proba)
    assert roc[0] == {"fpr": 0.0, "tpr": 0.0, "threshold": 1.0}
    assert roc[-1]["fpr"] == 1.0 and roc[-1]["tpr"] == 1.0
    pr = plots.pr_points(Y, proba)
    assert all(set(p) == {"recall", "precision"} for p in pr)


def scored(n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` labels and six-digit scores that separate them about as well as ours."""
    rng = np.random.default_rng(0)
    y = (rng.random(n) < 0.27).astype(int)
    return y, (1 / (1 + np.exp(-rng.normal(1.2 * y - 1, 1)))).round(6)


def test_curves_stay_small_and_keep_their_shape() -> None:
    from sklearn import metrics as skm

    y, proba = scored(200_000)
    full_fpr, full_tpr, _ = skm.roc_curve(y, proba, drop_intermediate=True)
    assert len(full_fpr) > 10 * plots.CURVE_POINTS
    roc = plots.roc_points(y, proba)
    pr = plots.pr_points(y, proba)
    assert len(roc) <= plots.CURVE_POINTS and len(pr) <= plots.CURVE_POINTS
    # The ends stay, and every kept point is a vertex of the full curve.
    assert (roc[0]["fpr"], roc[0]["tpr"]) == (0.0, 0.0)
    assert (roc[-1]["fpr"], roc[-1]["tpr"]) == (1.0, 1.0)
    assert (pr[0]["recall"], pr[-1]["recall"]) == (1.0, 0.0)
    vertices = set(zip(full_fpr.round(6), full_tpr.round(6), strict=True))
    assert all((p["fpr"], p["tpr"]) in vertices for p in roc)
    # Same shape: the reduced curve's area is the full one's to three digits.
    fpr = [p["fpr"] for p in roc]
    tpr = [p["tpr"] for p in roc]
    assert np.trapezoid(tpr, fpr) == pytest.approx(
        skm.roc_auc_score(y, proba), abs=1e-3
    )
    # Consecutive kept vertices sit at most about one quantile of the rows apart
    # (the scores have no large ties, which would make one vertex of many rows).
    assert max(np.diff(fpr)) < 3 / plots.CURVE_POINTS


def test_small_curves_are_kept_whole() -> None:
    from sklearn import metrics as skm

    y, proba = scored(500)
    fpr, _, _ = skm.roc_curve(y, proba, drop_intermediate=True)
    precision, _, _ = skm.precision_recall_curve(y, proba, drop_intermediate=True)
    assert len(plots.roc_points(y, proba)) == len(fpr)
    assert len(plots.pr_points(y, proba)) == len(precision)
    reduced = plots.roc_points(y, proba, points=20)
    assert len(reduced) <= 20 and reduced[-1]["fpr"] == 1.0


def test_confusion_is_four_counts_whatever_the_rows() -> None:
    y = np.array([1, 1, 1, 0, 0])
    pred = np.array([1, 0, 1, 0, 0])
    counts = evaluate.confusion_counts(y, pred)
    assert counts.to_dict("records") == [
        {"actual": "churn", "predicted": "churn", "count": 2},
        {"actual": "churn", "predicted": "stay", "count": 1},
        {"actual": "stay", "predicted": "churn", "count": 0},
        {"actual": "stay", "predicted": "stay", "count": 2},
    ]
    many = evaluate.confusion_counts(np.tile(y, 1000), np.tile(pred, 1000))
    assert len(many) == 4 and many["count"].sum() == 5000


def test_the_confusion_template_is_dvcs_summing_counts() -> None:
    # The committed template is DVC's own confusion matrix, summing a `count`
    # column instead of counting rows; a revision from before counts were
    # stored (one row per customer) counts each row once.
    import json

    from dvc_render.vega_templates import ConfusionTemplate

    from conftest import ROOT

    ours = json.loads((ROOT / ".dvc/plots/confusion_counts.json").read_text())
    theirs = json.loads(json.dumps(ConfusionTemplate.DEFAULT_CONTENT))
    steps = ours["spec"].pop("transform")
    assert steps[0] == {
        "calculate": "isValid(datum.count) ? datum.count : 1",
        "as": "cell_count",
    }
    assert steps[1]["aggregate"] == [
        {"op": "sum", "field": "cell_count", "as": "xy_count"}
    ]
    expected = theirs["spec"].pop("transform")
    assert steps[1]["groupby"] == expected[0]["groupby"] and steps[2:] == expected[1:]
    assert ours == theirs


def test_importance_ranks_the_informative_column() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"signal": rng.normal(size=400), "noise": rng.normal(size=400)})
    y = (X["signal"] > 0).astype(int).to_numpy()
    model = LogisticRegression().fit(X, y)
    rows = plots.importance(model, X, y, repeats=3, seed=0)
    assert [r["feature"] for r in rows] == ["signal", "noise"]
    assert rows[0]["importance"] > 0.3 > abs(rows[1]["importance"])


# Permutation importance: the encoded-block shortcut against sklearn on the pipeline.

REPEATS = 3
SEED = 42


def _test_rows(n: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    test = split()[1].iloc[:n]
    return test[contract.feature_names()], test[contract.TARGET].to_numpy()


def _sklearn(model, X: pd.DataFrame, y: np.ndarray):
    return permutation_importance(
        model, X, y, scoring="roc_auc", n_repeats=REPEATS, random_state=SEED, n_jobs=1
    )


def _rows(X: pd.DataFrame, means: np.ndarray, stds: np.ndarray) -> list[dict]:
    rows = [
        {"feature": c, "importance": plots.rounded(m), "std": plots.rounded(s)}
        for c, m, s in zip(X.columns, means, stds, strict=True)
    ]
    return sorted(rows, key=lambda r: (-r["importance"], r["feature"]))


def _assert_same_as_sklearn(model, X: pd.DataFrame, y: np.ndarray) -> None:
    expected = _sklearn(model, X, y)
    found = plots.encoded_importance(model, X, y, repeats=REPEATS, seed=SEED)
    assert found is not None, "the pipeline should take the encoded-block path"
    means, stds = found
    np.testing.assert_allclose(means, expected.importances_mean, rtol=0, atol=1e-12)
    np.testing.assert_allclose(stds, expected.importances_std, rtol=0, atol=1e-12)
    assert plots.importance(model, X, y, repeats=REPEATS, seed=SEED) == _rows(
        X, expected.importances_mean, expected.importances_std
    )


@pytest.mark.parametrize("estimator", ["logistic_regression", "hist_gradient_boosting"])
def test_encoded_importance_equals_sklearn_on_the_pipeline(estimator: str) -> None:
    X, y = _test_rows()
    model = fitted(estimator)
    _assert_same_as_sklearn(model, X, y)
    # Not vacuous: most columns move the AUC.
    means, _ = plots.encoded_importance(model, X, y, repeats=REPEATS, seed=SEED)
    assert np.count_nonzero(means) > len(X.columns) // 2


def test_encoded_importance_follows_columns_by_name() -> None:
    X, y = _test_rows()
    # Reordered, plus a column the pipeline drops: its importance is exactly zero.
    X = X[X.columns[::-1]].assign(unused=np.arange(len(X)))
    _assert_same_as_sklearn(fitted(), X, y)
    rows = plots.importance(fitted(), X, y, repeats=REPEATS, seed=SEED)
    assert {"feature": "unused", "importance": 0.0, "std": 0.0} in rows


def test_encoded_importance_equals_sklearn_on_sparse_encoding() -> None:
    train = split()[0].iloc[:1500]
    model = clone(fitted()).set_params(
        features__categories__sparse_output=True, features__sparse_threshold=1.0
    )
    model.fit(train[contract.feature_names()], train[contract.TARGET])
    X, y = _test_rows()
    assert sparse.issparse(model[:-1].transform(X))
    _assert_same_as_sklearn(model, X, y)


def test_encoded_blocks_cover_each_encoded_column_once() -> None:
    X, _ = _test_rows()
    features = fitted()[0]
    blocks = plots.encoded_blocks(features, list(X.columns))
    assert blocks is not None
    width = features.transform(X.iloc[:5]).shape[1]
    assert sorted(np.concatenate(blocks).tolist()) == list(range(width))
    encoder = features.named_transformers_["categories"]
    for column, levels in zip(
        encoder.feature_names_in_, encoder.categories_, strict=True
    ):
        assert len(blocks[list(X.columns).index(column)]) == len(levels)


def test_permutation_seed_is_the_one_sklearn_draws() -> None:
    expected = np.random.RandomState(SEED).randint(np.iinfo(np.int32).max + 1)
    assert plots.permutation_seed(SEED) == expected


def test_bare_estimator_falls_back_to_sklearn() -> None:
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    y = (X["a"] + 0.5 * X["b"] + rng.normal(size=300) > 0).astype(int).to_numpy()
    model = LogisticRegression().fit(X, y)
    assert plots.encoded_importance(model, X, y, repeats=REPEATS, seed=SEED) is None
    expected = _sklearn(model, X, y)
    assert plots.importance(model, X, y, repeats=REPEATS, seed=SEED) == _rows(
        X, expected.importances_mean, expected.importances_std
    )


def test_column_mixing_transformer_falls_back_to_sklearn() -> None:
    rng = np.random.default_rng(2)
    X = pd.DataFrame(rng.normal(size=(300, 3)), columns=["a", "b", "c"])
    y = (X["a"] - X["c"] > 0).astype(int).to_numpy()
    features = ColumnTransformer([("mixed", PCA(n_components=2), ["a", "b", "c"])])
    model = Pipeline([("features", features), ("model", LogisticRegression())])
    model.fit(X, y)
    assert plots.encoded_importance(model, X, y, repeats=REPEATS, seed=SEED) is None
    expected = _sklearn(model, X, y)
    assert plots.importance(model, X, y, repeats=REPEATS, seed=SEED) == _rows(
        X, expected.importances_mean, expected.importances_std
    )


def test_importance_needs_a_repeat() -> None:
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="repeats"):
        plots.importance(None, X, Y, repeats=0, seed=SEED)
