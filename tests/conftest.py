"""Shared fixtures: the project root, small tables cut from the real data, clones."""

from __future__ import annotations

import copy
import fcntl
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

import scratch
from churn import config, contract
from churn.data import ingest
from churn.pipeline import prepare

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "data" / "external" / "telco_churn.csv"
#: The virtualenv running the tests; clones reuse it instead of installing again.
VENV = Path(sys.prefix)


def pipeline_stages() -> list[str]:
    """The stages of dvc.yaml as declared, which is also the order they run in."""
    return list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


def env_for(repo: Path) -> dict[str, str]:
    """Environment in which `dvc` and `python -m churn.*` act on `repo`."""
    return scratch.tool_env(VENV, repo)


def run(cmd: list[str], repo: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run `cmd` in `repo`, capturing output; fail the test with it if asked."""
    proc = subprocess.run(
        cmd, cwd=repo, env=env_for(repo), capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        pytest.fail(f"{cmd} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def make(target: str, repo: Path, *args: str, check: bool = True):
    """`make TARGET` in `repo`, with this test run's virtualenv already installed."""
    stamp = VENV / ".installed"
    bench = VENV / ".installed-bench"
    cmd = ["make", target, f"VENV={VENV}", "-o", str(stamp), "-o", str(bench), *args]
    return run(cmd, repo, check=check)


#: The one DVC-tracked file whose bytes depend on the CPU that trained it.
MODEL_PATH = "models/model.skops"
#: Printed precision of metrics, plots and scores: six decimals, so values agree to
#: half a unit of the sixth (a rounding may fall either side), and a unit covers it.
PRINTED = 1e-6


def without_model_bytes(lock: dict) -> dict:
    """A parsed `dvc.lock` with the model file's md5 and size taken out.

    What remains is what every machine writes alike for the same inputs.
    """
    out = copy.deepcopy(lock)
    for stage in out.get("stages", {}).values():
        for entry in (*stage.get("deps", []), *stage.get("outs", [])):
            if entry.get("path") == MODEL_PATH:
                entry.pop("md5", None)
                entry.pop("size", None)
    return out


def assert_same_values(ours: Path, theirs: Path, *, tol: float = PRINTED) -> None:
    """Two JSON or CSV files hold the same values, floats to within `tol`."""
    if ours.suffix == ".csv":
        pd.testing.assert_frame_equal(
            pd.read_csv(ours), pd.read_csv(theirs), check_exact=False, rtol=0, atol=tol
        )
        return
    a, b = json.loads(ours.read_text()), json.loads(theirs.read_text())
    assert approx_values(a, tol) == b, f"{ours} differs from {theirs}"


#: How closely a probability is reproduced on another machine.
PROBABILITY = 1e-9


def approx_values(value, tol: float):
    """`value` with every float inside it compared to within `tol`."""
    if isinstance(value, dict):
        return {k: approx_values(v, tol) for k, v in value.items()}
    if isinstance(value, list):
        return [approx_values(v, tol) for v in value]
    if isinstance(value, float):
        return pytest.approx(value, abs=tol)
    return value


def clone(dest: Path) -> Path:
    """A fresh clone of this repository's committed state, as a user would get it."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    for key, value in (("user.name", "test"), ("user.email", "test@example.com")):
        subprocess.run(["git", "config", key, value], cwd=dest, check=True)
    return dest


def reader_clone(dest: Path) -> Path:
    """A clone as a reader of the docs has it: on `main`, with this test run's
    virtualenv as its `.venv` (kept out of git's view)."""
    repo = clone(dest)
    # A reader's clone is on `main`, whatever branch these tests run from.
    subprocess.run(["git", "branch", "-m", "main"], cwd=repo, check=True)
    (repo / ".venv").symlink_to(VENV)
    with (repo / ".git" / "info" / "exclude").open("a") as fh:
        fh.write(".venv\n")
    return repo


@dataclass(frozen=True)
class Reproduced:
    """A reader's clone on which `make repro` ran, and what that printed."""

    repo: Path
    output: str

    def copy(self, dest: Path) -> Path:
        """A copy at `dest`, the caller's to change; the original is only read."""
        shutil.copytree(self.repo, dest, symlinks=True)
        return dest


@pytest.fixture(scope="session")
def reproduced(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Reproduced:
    """One pipeline run for every test that needs a clone as `make repro` leaves
    it: built once per test run, the xdist workers sharing it through a lock."""
    base = tmp_path_factory.getbasetemp()
    shared = base if worker_id == "master" else base.parent
    folder, printed = shared / "reproduced", shared / "reproduced.txt"
    with (shared / "reproduced.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not printed.exists():
            shutil.rmtree(folder, ignore_errors=True)
            repo = reader_clone(folder / "churn")
            proc = make("repro", repo)
            printed.write_text(proc.stdout + proc.stderr)
    return Reproduced(folder / "churn", printed.read_text())


@pytest.fixture(scope="session")
def table() -> pd.DataFrame:
    """The bundled data as `ingest` types it."""
    return ingest.read_batch(SOURCE)


@pytest.fixture(scope="session")
def splits(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bundled data cleaned and split into train and test as `prepare` does,
    with the params in params.yaml."""
    params = config.load_params()
    return prepare.split(
        prepare.clean(table),
        test_size=params["prepare"]["test_size"],
        seed=params["seed"],
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real model package folder of the bundled model, built once per test file."""
    from delivery_helpers import build_package  # it imports this module

    return build_package(tmp_path_factory.mktemp("package"))


@pytest.fixture(scope="module")
def built_archive(built: Path) -> Path:
    """The same package as the `.tar.gz` a release ships."""
    return built.with_name(built.name + ".tar.gz")


@pytest.fixture()
def tiny(table: pd.DataFrame) -> pd.DataFrame:
    """Six real rows: both classes, and a not-yet-billed customer."""
    unbilled = table[table["total_charges"].isna()].head(1)
    churned = table[table[contract.TARGET].eq("Yes")].head(2)
    stayed = table[table[contract.TARGET].eq("No") & table["tenure"].gt(0)].head(3)
    return pd.concat([unbilled, churned, stayed]).reset_index(drop=True)


@pytest.fixture()
def csv_copy(tmp_path: Path) -> Path:
    """A writable copy of the bundled CSV."""
    return Path(shutil.copy(SOURCE, tmp_path / "batch.csv"))
