"""Paired-bootstrap intervals on cases with a known answer, and metric definitions
that agree with scikit-learn."""

import numpy as np
import pandas as pd
import pytest

from churn import stats
from churn.pipeline import evaluate


def _scores(rng: np.random.Generator, y: np.ndarray, noise: float) -> np.ndarray:
    """Scores that separate the classes less as `noise` grows (6 digits, as on disk)."""
    raw = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, noise, len(y)))))
    return np.round(raw, 6)


@pytest.fixture()
def y() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 2, 1400)


def test_metrics_match_scikit_learn_with_ties(y: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    score = np.round(_scores(rng, y, 1.5), 1)  # one decimal: many tied scores
    ours = stats.metric_values(y, score, threshold=0.5)
    theirs = evaluate.scores(y, score, threshold=0.5)
    assert ours == pytest.approx(theirs, abs=1e-6)


@pytest.mark.parametrize("metric", stats.METRICS)
def test_a_metric_asked_alone_is_the_one_of_the_full_set(y, metric) -> None:
    # The slices' intervals ask for one metric: only it is computed, the same way.
    rng = np.random.default_rng(3)
    score = np.round(_scores(rng, y, 1.5), 2)
    idx = rng.integers(0, len(y), size=(50, len(y)))
    full = stats.batch_metrics(y[idx], score[idx], threshold=0.5)
    alone = stats.batch_metrics(y[idx], score[idx], threshold=0.5, metrics=(metric,))
    assert list(alone) == [metric]
    np.testing.assert_array_equal(alone[metric], full[metric])


def test_ranking_metrics_are_nan_on_a_single_class() -> None:
    values = stats.metric_values(np.zeros(5), np.linspace(0, 1, 5), threshold=0.5)
    assert np.isnan(values["roc_auc"]) and np.isnan(values["pr_auc"])
    assert values["accuracy"] == pytest.approx(0.4)  # 0.5, 0.75, 1 predicted churn


def test_identical_predictions_give_an_interval_at_zero(y: np.ndarray) -> None:
    score = _scores(np.random.default_rng(2), y, 1.5)
    found = stats.paired_bootstrap(y, score, score, resamples=300)
    for interval in found.values():
        assert interval.low <= 0 <= interval.high
        assert interval.delta == 0 and interval.label == "within noise"
        assert not interval.worse


def test_a_clearly_better_model_gives_an_interval_above_zero(y: np.ndarray) -> None:
    rng = np.random.default_rng(3)
    weak, strong = _scores(rng, y, 3.0), _scores(rng, y, 0.7)
    found = stats.paired_bootstrap(y, weak, strong, resamples=300)
    auc = found["roc_auc"]
    assert 0 < auc.low < auc.delta < auc.high
    assert auc.label == "significant" and not auc.worse
    # For losses lower is better: the interval is below 0, and that is not worse.
    assert found["log_loss"].high < 0 and not found["log_loss"].worse
    # The other way round it is significantly worse.
    back = stats.paired_bootstrap(y, strong, weak, resamples=300)["roc_auc"]
    assert back.high < 0 and back.worse


def test_small_noise_is_within_noise(y: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    base = _scores(rng, y, 1.5)
    pr = np.clip(base + rng.normal(0, 0.002, len(y)), 0, 1)
    auc = stats.paired_bootstrap(y, base, pr, resamples=300)["roc_auc"]
    assert auc.low < 0 < auc.high and auc.label == "within noise"


def test_bootstrap_is_deterministic_in_its_seed(y: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    base, pr = _scores(rng, y, 1.5), _scores(rng, y, 1.4)
    first = stats.paired_bootstrap(y, base, pr, resamples=200, seed=7)
    again = stats.paired_bootstrap(y, base, pr, resamples=200, seed=7)
    other = stats.paired_bootstrap(y, base, pr, resamples=200, seed=8)
    assert first == again
    assert first["roc_auc"].low != other["roc_auc"].low


def test_bootstrap_refuses_mismatched_or_unknown_input(y: np.ndarray) -> None:
    with pytest.raises(ValueError, match="same length"):
        stats.paired_bootstrap(y, y[:-1], y)
    with pytest.raises(KeyError, match="unknown metric"):
        stats.paired_bootstrap(y, y, y, metrics=("auc",))


def test_align_keeps_shared_rows_with_the_same_label() -> None:
    base = pd.DataFrame(
        {"customer_id": [1, 2, 3], "label": [0, 1, 1], "score": [0.1, 0.8, 0.7]}
    )
    pr = pd.DataFrame(
        {"customer_id": [2, 3, 4], "label": [1, 0, 0], "score": [0.9, 0.6, 0.2]}
    )
    shared = stats.align(base, pr, key="customer_id")
    assert shared.to_dict("records") == [
        {"customer_id": 2, "label": 1, "score_base": 0.8, "score_pr": 0.9}
    ]
    with pytest.raises(KeyError, match="PR predictions lack"):
        stats.align(base, pr.drop(columns="score"), key="customer_id")


def test_the_review_does_not_import_scipy_stats() -> None:
    # Its import is the largest part of the report's and the gate's start-up.
    import subprocess
    import sys

    code = "import sys, churn.review.report; print('scipy.stats' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
