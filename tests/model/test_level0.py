"""Level 0: the hand-written notebook runs from a fresh clone and matches the pipeline.

Same data, preprocessing, estimator and hyperparameters as the level-1 pipeline,
typed into the script by hand; these tests catch the two drifting apart, and the
committed notebook drifting from the script's results (its cells are
tests/code/test_notebook.py's).
"""

import ast
import copy
import re
from pathlib import Path

import joblib
import nbformat
import pandas as pd
import pytest
import yaml
from sklearn.model_selection import train_test_split

from churn import config, contract
from churn.pipeline import evaluate, prepare, train
from conftest import ROOT, clone, make, run

SCRIPT = "levels/0-manual/train_churn.py"
NOTEBOOK = "levels/0-manual/train_churn.ipynb"
NUMBER = re.compile(r"\d+\.\d+")
MODEL = "levels/0-manual/churn_model_final_v2.joblib"

pytestmark = pytest.mark.slow


def _printed_roc_auc(output: str) -> str:
    match = re.search(r"^test ROC AUC:\s+([0-9.]+)$", output, re.M)
    assert match, f"no ROC AUC line in the output:\n{output}"
    return match.group(1)


def _roc_auc(output: str) -> float:
    return float(_printed_roc_auc(output))


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


def _units(printed: str) -> tuple[int, int]:
    """A printed decimal as (digits after the point, value in units of the last)."""
    decimals = len(printed.partition(".")[2])
    return decimals, round(float(printed) * 10**decimals)


def same_to_the_last_digit(ours: str, theirs: str) -> bool:
    """The same text, each decimal number at most one unit of its last printed digit
    apart: what another CPU's floating-point kernel may change."""
    if NUMBER.split(ours) != NUMBER.split(theirs):
        return False
    for a, b in zip(NUMBER.findall(ours), NUMBER.findall(theirs), strict=True):
        (da, ua), (db, ub) = _units(a), _units(b)
        if da != db or abs(ua - ub) > 1:
            return False
    return True


def test_same_to_the_last_digit() -> None:
    assert same_to_the_last_digit("auc 0.8420\n[[926 109]]", "auc 0.8421\n[[926 109]]")
    assert not same_to_the_last_digit("auc 0.8420", "auc 0.8422")
    assert not same_to_the_last_digit("auc 0.8420", "auc 0.842")
    assert not same_to_the_last_digit("[[926 109]]", "[[925 110]]")


def _outputs(nb: nbformat.NotebookNode) -> tuple[dict, list[str]]:
    """The notebook without its printed text, and that text, output by output."""
    rest = copy.deepcopy(nb)
    texts = []
    for cell in rest.cells:
        for out in cell.get("outputs", []):
            texts.append(out.pop("text", ""))
    return rest, texts


def test_the_notebook_prints_the_scripts_roc_auc(repo) -> None:
    _, output = repo
    notebook = nbformat.read(ROOT / NOTEBOOK, as_version=4)
    printed = "".join(
        out.get("text", "")
        for cell in notebook.cells
        for out in cell.get("outputs", [])
    )
    ours, theirs = _printed_roc_auc(printed), _printed_roc_auc(output)
    # Four decimals, a unit of the last being what another CPU may flip.
    assert same_to_the_last_digit(ours, theirs), f"notebook {ours}, script {theirs}"


def test_make_notebook_rewrites_the_committed_notebook(repo) -> None:
    # Run last of this module: it rewrites the notebook of the clone.
    path, _ = repo
    make("notebook", path)
    again = nbformat.read(path / NOTEBOOK, as_version=4)
    committed = nbformat.read(ROOT / NOTEBOOK, as_version=4)
    (rest, texts), (rest_then, texts_then) = _outputs(again), _outputs(committed)
    assert rest == rest_then, "same cells, metadata and kinds of output"
    assert len(texts) == len(texts_then)
    for ours, theirs in zip(texts, texts_then, strict=True):
        assert same_to_the_last_digit(ours, theirs), f"{ours}\n---\n{theirs}"
