"""The README's experiment commands work on a fresh clone and compare both runs."""

import json
import shlex
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, Reproduced, make, run

pytestmark = pytest.mark.slow


def _roc_auc(repo: Path) -> float:
    return json.loads((repo / "metrics" / "metrics.json").read_text())["roc_auc"]


#: What a terminal shows without wrapping: every line of the README's commands fits.
COLUMNS = 200


@pytest.fixture(scope="module")
def experimented(
    tmp_path_factory: pytest.TempPathFactory, reproduced: Reproduced
) -> dict:
    """A fresh clone after `make repro` and the README's two experiments."""
    repo = reproduced.copy(tmp_path_factory.mktemp("experiments") / "repo")
    runs = {"repo": repo, "main": _roc_auc(repo)}
    first = run(
        ["dvc", "exp", "run", "-S", "train.estimator=hist_gradient_boosting"], repo
    )
    runs["first"], runs["boosted"] = first.stdout, _roc_auc(repo)

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
    runs["second"] = second.stdout
    return runs


def test_two_experiments_then_a_table_of_both(experimented: dict) -> None:
    repo, boosted = experimented["repo"], experimented["boosted"]
    # The experiment reruns what the estimator feeds, not the data stages.
    assert "Running stage 'train'" in experimented["first"]
    assert "Running stage 'validate'" not in experimented["first"]
    second = experimented["second"]
    # The validated and split data come from the cache; only the model changes.
    assert "Stage 'prepare' didn't change, skipping" in second
    assert "Running stage 'train'" in second
    params = yaml.safe_load((repo / "params.yaml").read_text())["train"]
    assert params["estimator"] == "logistic_regression"
    assert params["logistic_regression"]["C"] == 0.3
    assert _roc_auc(repo) != boosted

    table = run(["dvc", "exp", "show", "--only-changed"], repo).stdout
    for text in ("hist_gradient_boosting", "logistic_regression", "0.3", "roc_auc"):
        assert text in table, text


def _readme_exp_show() -> list[str]:
    """The README's `dvc exp show` command, as a user runs it from the venv."""
    (line,) = [
        line
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith(".venv/bin/dvc exp show")
    ]
    return ["dvc", *shlex.split(line)[1:]]


def _widest(text: str) -> int:
    return max((len(line) for line in text.splitlines()), default=0)


def test_the_readme_s_tables_fit_a_terminal(experimented: dict) -> None:
    repo = experimented["repo"]
    shown = {
        "make metrics": make("metrics", repo).stdout,
        "dvc metrics diff main": run(["dvc", "metrics", "diff", "main"], repo).stdout,
        "dvc exp show --only-changed": run(_readme_exp_show(), repo).stdout,
    }
    for command, text in shown.items():
        assert text.strip(), command
        assert _widest(text) < COLUMNS, f"{command}:\n{text}"
    # The second experiment's workspace against main: its metrics changed, and
    # nothing but headline numbers is listed, one a line.
    diff = shown["dvc metrics diff main"]
    assert "metrics/metrics.json" in diff and "roc_auc" in diff
    # Columns: path, metric, main, workspace, change. Whatever main still
    # registers, this checkout has no per-feature statistic among its metrics.
    detail = [
        row.split()
        for row in diff.splitlines()
        if any(word in row for word in ("psi.", "p_value.", "current."))
    ]
    assert all(cells[3] == "-" for cells in detail), diff
    assert "roc_auc" in shown["make metrics"]
    # The changed params are columns of the table, with their values.
    table = shown["dvc exp show --only-changed"]
    assert "train.estimator" in table and "hist_gradient_boosting" in table
    assert "train.logistic_regression.C" in table
