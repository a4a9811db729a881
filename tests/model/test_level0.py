"""Level 0: the hand-written notebook runs from a fresh clone and matches the pipeline.

Same data, preprocessing, estimator and hyperparameters as the level-1 pipeline,
typed into the script by hand; these tests catch the two drifting apart.
"""

import ast
import re
import subprocess
from pathlib import Path

import joblib
import nbformat
import pandas as pd
import pytest
import yaml
from sklearn.model_selection import train_test_split

from churn import config, contract
from churn.pipeline import evaluate, prepare, train
from conftest import ROOT, clone, env_for, run

SCRIPT = "levels/0-manual/train_churn.py"
MODEL = "levels/0-manual/churn_model_final_v2.joblib"

pytestmark = pytest.mark.slow


def _roc_auc(output: str) -> float:
    match = re.search(r"^test ROC AUC:\s+([0-9.]+)$", output, re.M)
    assert match, f"no ROC AUC line in the output:\n{output}"
    return float(match.group(1))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fresh clone in which the level-0 script has run, as its README says."""
    path = clone(tmp_path_factory.mktemp("level0") / "repo")
    proc = run(["python", "levels/0-manual/train_churn.py"], path)
    return path, proc.stdout


def test_script_runs_to_the_end_and_saves_the_model(repo) -> None:
    path, output = repo
    assert output.splitlines()[-1].startswith("saved churn_model_final_v2.joblib")
    assert (path / MODEL).stat().st_size > 0
    # The hand-saved model is ignored by git, as the README says.
    assert run(["git", "status", "--porcelain"], path).stdout == ""


def test_roc_auc_is_the_pipelines(repo, table: pd.DataFrame) -> None:
    # The pipeline's own clean, train and score functions with the default params,
    # on the data and the split the notebook uses (all months, stratified).
    _, output = repo
    params = config.load_params()
    data = prepare.clean(table)
    train_df, test_df = train_test_split(
        data,
        test_size=params["prepare"]["test_size"],
        random_state=params["seed"],
        stratify=data[contract.TARGET],
    )
    model = train.train(
        train_df.drop(columns=[contract.TARGET]),
        train_df[contract.TARGET],
        params=params["train"],
        seed=params["seed"],
    )
    proba = model.predict_proba(test_df[contract.feature_names()])[:, 1]
    pipeline = evaluate.scores(
        test_df[contract.TARGET].to_numpy(),
        proba,
        threshold=params["evaluate"]["threshold"],
    )["roc_auc"]
    assert _roc_auc(output) == pytest.approx(pipeline, abs=0.01)


def test_same_preprocessing_estimator_and_params_as_the_pipeline(repo) -> None:
    path, _ = repo
    params = yaml.safe_load((path / "params.yaml").read_text())
    expected = train.build(params["train"], params["seed"])
    # A file this test run just wrote; joblib unpickles, which is fine for it.
    manual = joblib.load(path / MODEL)
    assert type(manual[-1]) is type(expected[-1])
    assert manual[-1].get_params() == expected[-1].get_params()
    columns = [(name, sorted(cols)) for name, _, cols in manual[0].transformers]
    assert columns == [
        (name, sorted(cols)) for name, _, cols in expected[0].transformers
    ]


def test_script_does_not_use_the_package() -> None:
    # Level 0 is the manual baseline: it must not lean on the pipeline's code.
    tree = ast.parse((ROOT / SCRIPT).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "churn" not in imported
    assert {"pandas", "sklearn", "joblib"} <= imported


def test_converts_to_a_notebook_that_runs_in_its_folder(repo) -> None:
    path, output = repo
    run(["jupytext", "--to", "ipynb", "levels/0-manual/train_churn.py"], path)
    notebook = nbformat.read(path / "levels/0-manual/train_churn.ipynb", as_version=4)
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds.count("markdown") >= 6 and kinds.count("code") >= 6
    # Each manual step is pointed out in a markdown cell, not a code comment.
    pains = [c for c in notebook.cells if "**Pain:" in c.source]
    assert {c.cell_type for c in pains} == {"markdown"}
    assert sum(c.source.count("**Pain:") for c in pains) == 7
    # Jupyter runs the cells from the notebook's folder, without __file__.
    code = "\n\n".join(c.source for c in notebook.cells if c.cell_type == "code")
    proc = subprocess.run(
        ["python", "-"],
        input=code,
        cwd=path / "levels" / "0-manual",
        env=env_for(path),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert _roc_auc(proc.stdout) == _roc_auc(output)
