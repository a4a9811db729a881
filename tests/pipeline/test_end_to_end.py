"""A fresh clone reproduces the pipeline with the README's command, on any machine.

The data are rebuilt to the byte. The model is too where the CPU picks the BLAS
kernel that wrote the committed `dvc.lock`; elsewhere its last bits differ, so
`compare` reruns. `evaluate` runs on every fresh clone, whose DVC cache lacks its
predictions. Both must give the committed figures at their printed digits, and
`dvc.lock` may differ in the model file's hash alone.
"""

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from churn import lineage
from conftest import (
    MODEL_PATH,
    PRINTED,
    ROOT,
    Reproduced,
    assert_same_values,
    make,
    pipeline_stages,
    run,
    without_model_bytes,
)

STAGES = pipeline_stages()
#: Stages whose outputs are small files committed to git: a fresh clone has them.
COMMITTED = ["drift", "evaluate", "compare"]
#: Of those, the ones that read the model file, whose bytes depend on the CPU.
READ_THE_MODEL = ["evaluate", "compare"]
#: Of those, the ones with an output kept in the DVC cache alone, which a fresh
#: clone lacks: they run whatever the model's bytes.
CACHED_ONLY = ["evaluate"]
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


def _model_md5(lock: dict) -> str:
    return next(
        o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == MODEL_PATH
    )


@pytest.fixture(scope="module")
def repo(
    tmp_path_factory: pytest.TempPathFactory, reproduced: Reproduced
) -> tuple[Path, str]:
    """A clone on which the README's pipeline command has run once, and what it
    printed."""
    return reproduced.copy(tmp_path_factory.mktemp("e2e") / "repo"), reproduced.output


def test_the_mlflow_example_logs_the_pipelines_model_as_a_run(
    repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # levels/README.md's MLflow snippet, after `make repro`, as the page shows it.
    from mlflow.tracking import MlflowClient

    path, _ = repo
    proc = run(["python", "levels/mlflow_run.py", "--tracking", "mlruns"], path)
    run_id = proc.stdout.strip().splitlines()[-1]
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    logged = MlflowClient(tracking_uri=(path / "mlruns").as_uri()).get_run(run_id)
    metrics = json.loads((path / "metrics" / "metrics.json").read_text())
    assert logged.data.metrics == pytest.approx(metrics, abs=PRINTED)
    params = yaml.safe_load((path / "params.yaml").read_text())
    assert logged.data.params["train.estimator"] == params["train"]["estimator"]
    assert logged.data.params["seed"] == str(params["seed"])
    artifacts = MlflowClient(tracking_uri=(path / "mlruns").as_uri()).list_artifacts(
        run_id
    )
    assert [a.path for a in artifacts] == ["model.skops"]
    # The tracking folder is ignored, so the clone stays clean.
    assert "mlruns" not in run(["git", "status", "--porcelain"], path).stdout


def test_every_stage_ran_or_was_proven_current(repo) -> None:
    # The clone rebuilds the data byte for byte, so the committed drift report
    # already belongs to it. The model's bytes match the committed lock only on a
    # CPU like the one that wrote it; where they don't, the stages that read the
    # model rerun. The next test reruns them all anyway.
    path, output = repo
    lock = yaml.safe_load((path / "dvc.lock").read_text())
    committed = yaml.safe_load((ROOT / "dvc.lock").read_text())
    same_model = _model_md5(lock) == _model_md5(committed)
    skipped = (
        [s for s in COMMITTED if s not in CACHED_ONLY] if same_model else ["drift"]
    )
    assert _ran(output) == [s for s in STAGES if s not in skipped]
    for stage in skipped:
        assert f"Stage '{stage}' didn't change, skipping" in output
    assert "roc_auc" in output, "make repro ends by showing the metrics"
    assert "INFO churn.pipeline.modelcard: months 1-" in output, (
        "and writes the model card"
    )


def test_metrics_and_plots_exist_and_parse(repo) -> None:
    path, _ = repo
    metrics = json.loads((path / "metrics" / "metrics.json").read_text())
    assert set(metrics) >= {"roc_auc", "pr_auc", "f1", "log_loss", "brier"}
    assert metrics["roc_auc"] >= 0.84
    assert json.loads((path / "metrics" / "validation.json").read_text())["success"]
    for name in PLOTS:
        assert json.loads((path / "plots" / name).read_text())
    confusion = pd.read_csv(path / "plots" / "confusion.csv")
    predictions = (path / "metrics" / "predictions.csv").read_text().splitlines()
    assert list(confusion.columns) == ["actual", "predicted", "count"]
    assert len(confusion) == 4 and confusion["count"].sum() == len(predictions) - 1
    validation = json.loads((path / "metrics" / "model_validation.json").read_text())
    assert validation["test_rows"] == len(predictions) - 1 > 700
    assert (path / "models" / "model.skops").stat().st_size > 0


def test_fresh_run_reproduces_committed_metrics_exactly(repo) -> None:
    # A clean clone computes the numbers committed in git, to every printed digit,
    # and leaves git's view of it clean but for the model's own hash in dvc.lock.
    path, _ = repo
    for stage in COMMITTED:
        forced = run(["dvc", "repro", "--force", "--single-item", stage], path)
        assert _ran(forced.stdout) == [stage]
    # No rounding is involved in these: the same bytes on every machine.
    for name in ["metrics/drift.json", "plots/drift.json"]:
        assert (path / name).read_text() == (ROOT / name).read_text(), name
    # The predictions are in no commit: the committed dvc.lock names them by md5,
    # and the clone's DVC cache holds exactly those bytes.
    predictions = lineage.out_at("HEAD", "metrics/predictions.csv", cwd=path)
    assert predictions == (path / "metrics" / "predictions.csv").read_text()
    for name in [
        "metrics/metrics.json",
        "metrics/slices.json",
        "metrics/model_validation.json",
        "metrics/compare.json",
        *PLOT_FILES,
    ]:
        assert_same_values(path / name, ROOT / name)
    status = run(["git", "status", "--porcelain"], path).stdout
    assert status in ("", " M dvc.lock\n"), status
    lock = yaml.safe_load((path / "dvc.lock").read_text())
    committed = yaml.safe_load((ROOT / "dvc.lock").read_text())
    assert without_model_bytes(lock) == without_model_bytes(committed)
    identity = run(["python", "-m", "churn", "lineage", "--base", "HEAD"], path)
    assert "changed=false" in identity.stdout


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
    # The params stage checks the new value first; its mark is unchanged, so only
    # the stages that read the value rerun after it.
    assert _ran(proc.stdout) == ["params", "train", "evaluate", "compare"]
    diff = run(["dvc", "params", "diff"], path).stdout
    assert "train.logistic_regression.C" in diff
