"""A bad value in params.yaml stops `dvc repro` before any stage loses its outputs.

One clone runs the pipeline once; each bad value is then run through `dvc repro` in
it, and the tree (models, data, metrics, plots, `dvc.lock`) must hash the same
afterwards, with `params.yaml` put back between cases.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import yaml

from conftest import Reproduced, run

pytestmark = pytest.mark.slow

GUARDED = ("models", "data", "metrics", "plots")

#: key, bad value, words the refusal must hold (key, value and rule).
CASES = {
    "unknown-estimator": (
        "train.estimator",
        "xgboost",
        "train.estimator: 'xgboost' is not allowed: one of "
        "['logistic_regression', 'hist_gradient_boosting']",
    ),
    "test-share-above-one": (
        "prepare.test_size",
        1.5,
        "prepare.test_size: 1.5 is not allowed: test_size must be between 0 and 1",
    ),
    "month-past-the-last": (
        "batches.through_month",
        99,
        "batches.through_month: 99 is not allowed: a whole number from 1 to 7 "
        "(batches.months)",
    ),
}


def tree(repo: Path) -> dict[str, str]:
    """sha256 of every file under the guarded folders, and of `dvc.lock`."""
    files = [repo / "dvc.lock"]
    for folder in GUARDED:
        files += sorted(p for p in (repo / folder).rglob("*") if p.is_file())
    return {
        str(p.relative_to(repo)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in files
    }


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, reproduced: Reproduced) -> Path:
    """A clone in which the pipeline has run once: every output is in place."""
    return reproduced.copy(tmp_path_factory.mktemp("bad-params") / "repo")


@pytest.fixture()
def params_file(trained: Path):
    """The clone's params.yaml, put back as it was after each case."""
    path = trained / "params.yaml"
    text = path.read_text()
    yield path
    path.write_text(text)


@pytest.mark.parametrize("name", CASES)
def test_a_bad_value_stops_the_run_with_every_output_in_place(
    name: str, trained: Path, params_file: Path
) -> None:
    key, value, words = CASES[name]
    before = tree(trained)
    assert before["models/model.skops"] and "metrics/params.json" in before
    params = yaml.safe_load(params_file.read_text())
    *parents, last = key.split(".")
    section = params
    for part in parents:
        section = section[part]
    section[last] = value
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))

    proc = run(["dvc", "repro"], trained, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert re.findall(r"Running stage '([^']+)'", proc.stdout) == ["params"]
    assert words in output and "Traceback" not in output
    assert tree(trained) == before


def test_put_back_the_pipeline_is_up_to_date(trained: Path, params_file) -> None:
    assert "up to date" in run(["dvc", "status"], trained).stdout
