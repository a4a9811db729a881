"""The README's experiment commands work on a fresh clone and compare both runs."""

import json
from pathlib import Path

import pytest
import yaml

from conftest import clone, run

pytestmark = pytest.mark.slow


def _roc_auc(repo: Path) -> float:
    return json.loads((repo / "metrics" / "metrics.json").read_text())["roc_auc"]


def test_two_experiments_then_a_table_of_both(tmp_path: Path) -> None:
    repo = clone(tmp_path / "repo")
    first = run(
        ["dvc", "exp", "run", "-S", "train.estimator=hist_gradient_boosting"], repo
    )
    assert "Running stage 'train'" in first.stdout
    boosted = _roc_auc(repo)

    # An experiment starts from the workspace the last one left, so the second
    # command names its estimator again rather than tuning the boosted model.
    second = run(
        [
            "dvc",
            "exp",
            "run",
            "-S",
            "train.estimator=logistic_regression",
            "-S",
            "train.logistic_regression.C=0.3",
        ],
        repo,
    )
    # The validated and split data come from the cache; only the model changes.
    assert "Stage 'prepare' didn't change, skipping" in second.stdout
    assert "Running stage 'train'" in second.stdout
    params = yaml.safe_load((repo / "params.yaml").read_text())["train"]
    assert params["estimator"] == "logistic_regression"
    assert params["logistic_regression"]["C"] == 0.3
    assert _roc_auc(repo) != boosted

    table = run(["dvc", "exp", "show", "--only-changed"], repo).stdout
    for text in ("hist_gradient_boosting", "logistic_regression", "0.3", "roc_auc"):
        assert text in table, text
