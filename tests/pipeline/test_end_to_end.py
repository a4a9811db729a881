"""A fresh clone reproduces the pipeline with the README's command, exactly."""

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, clone, make, pipeline_stages, run

STAGES = pipeline_stages()
#: Stages whose outputs are small files committed to git: a fresh clone has them.
COMMITTED = ["drift", "evaluate", "compare"]
PLOTS = [
    "roc.json",
    "precision_recall.json",
    "calibration.json",
    "importance.json",
    "drift.json",
]
PLOT_FILES = [f"plots/{name}" for name in [*PLOTS, "confusion.csv"]]

pytestmark = pytest.mark.slow


def _ran(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A clone on which the README's pipeline command has run once."""
    path = clone(tmp_path_factory.mktemp("e2e") / "repo")
    proc = make("repro", path)
    return path, proc.stdout + proc.stderr


def test_every_stage_ran_or_was_proven_current(repo) -> None:
    # The clone rebuilds the data and the model byte for byte, so the committed
    # metrics and plots already belong to them and DVC skips the stages that write
    # only those; the next test reruns them anyway.
    _, output = repo
    assert _ran(output) == [s for s in STAGES if s not in COMMITTED]
    for stage in COMMITTED:
        assert f"Stage '{stage}' didn't change, skipping" in output
    assert "roc_auc" in output, "make repro ends by showing the metrics"
    assert "INFO churn.modelcard: months 1-" in output, "and writes the model card"


def test_metrics_and_plots_exist_and_parse(repo) -> None:
    path, _ = repo
    metrics = json.loads((path / "metrics" / "metrics.json").read_text())
    assert set(metrics) >= {"roc_auc", "pr_auc", "f1", "log_loss", "brier"}
    assert metrics["roc_auc"] >= 0.84
    assert json.loads((path / "metrics" / "validation.json").read_text())["success"]
    for name in PLOTS:
        assert json.loads((path / "plots" / name).read_text())
    confusion = (path / "plots" / "confusion.csv").read_text().splitlines()
    predictions = (path / "metrics" / "predictions.csv").read_text().splitlines()
    assert confusion[0] == "actual,predicted" and len(confusion) == len(predictions)
    validation = json.loads((path / "metrics" / "model_validation.json").read_text())
    assert validation["test_rows"] == len(predictions) - 1 > 700
    assert (path / "models" / "model.skops").stat().st_size > 0


def test_fresh_run_reproduces_committed_metrics_exactly(repo) -> None:
    # Determinism: a clean clone computes the very numbers committed in git.
    path, _ = repo
    for stage in COMMITTED:
        forced = run(["dvc", "repro", "--force", "--single-item", stage], path)
        assert _ran(forced.stdout) == [stage]
    outputs = ["metrics/metrics.json", "metrics/predictions.csv", *PLOT_FILES]
    outputs += [
        "metrics/drift.json",
        "plots/drift.json",
        "metrics/model_validation.json",
    ]
    for name in outputs:
        assert (path / name).read_text() == (ROOT / name).read_text(), name
    assert run(["git", "status", "--porcelain"], path).stdout == ""


def test_status_clean_and_second_repro_runs_nothing(repo) -> None:
    path, _ = repo
    assert "up to date" in run(["dvc", "status"], path).stdout
    again = make("repro", path)
    assert _ran(again.stdout) == []


def test_train_param_change_reruns_only_train_and_what_follows(repo) -> None:
    path, _ = repo
    params_file = path / "params.yaml"
    params = yaml.safe_load(params_file.read_text())
    params["train"]["logistic_regression"]["C"] = 0.5
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))
    proc = run(["dvc", "repro"], path)
    assert _ran(proc.stdout) == ["train", "evaluate", "compare"]
    diff = run(["dvc", "params", "diff"], path).stdout
    assert "train.logistic_regression.C" in diff
