"""The workflow files: linted clean, least privilege, pinned, cached, via make."""

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
#: The lock `make install` installs from (tests/code/test_requirements.py).
LOCKS = sorted((ROOT / "requirements").glob("*.txt"))
BIN = Path(sys.executable).parent
PINNED = re.compile(
    r"^\s*(?:- )?uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+$"
)


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def _steps(data: dict) -> list[dict]:
    return [step for job in data["jobs"].values() for step in job["steps"]]


def test_the_three_workflows_exist() -> None:
    assert [p.name for p in WORKFLOWS] == [
        "ci.yml",
        "monitor.yml",
        "release.yml",
        "retrain.yml",
        "train.yml",
    ]


def test_actionlint_reports_nothing() -> None:
    proc = subprocess.run(
        [BIN / "actionlint", "-no-color"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


def test_zizmor_reports_nothing() -> None:
    proc = subprocess.run(
        [BIN / "zizmor", "--offline", "--no-progress", ".github/workflows"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_least_privilege_and_concurrency(path: Path) -> None:
    data = _load(path)
    assert data["permissions"] == {}, "nothing granted at the top level"
    for name, job in data["jobs"].items():
        assert "permissions" in job, f"job {name} states its permissions"
        assert "write-all" not in str(job["permissions"])
    # A newer push supersedes a check, but a release halfway through tagging and
    # publishing must finish; the next one queues behind it.
    cancels = path.name != "release.yml"
    assert data["concurrency"]["cancel-in-progress"] is cancels
    assert "pull_request_target" not in data["on"]


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_to_a_sha_with_the_tag_beside_it(path: Path) -> None:
    lines = [line for line in path.read_text().splitlines() if "uses:" in line]
    assert lines
    for line in lines:
        assert PINNED.match(line), line


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_installs_through_the_makefile_with_pip_cache(path: Path) -> None:
    steps = _steps(_load(path))
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "make install" in runs
    assert not re.search(r"^\s*pip3? install", runs, re.M), "no bare pip"
    setups = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
    assert setups
    for step in setups:
        assert step["with"]["cache"] == "pip"
        # The cache key is the hash of these files: the lock, all of it, and no more.
        patterns = step["with"]["cache-dependency-path"].split()
        keyed = {f for pattern in patterns for f in ROOT.glob(pattern) if f.is_file()}
        assert LOCKS and keyed == set(LOCKS), patterns
    for step in steps:
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_train_triggers_on_what_changes_the_model() -> None:
    data = _load(ROOT / ".github" / "workflows" / "train.yml")
    paths = data["on"]["pull_request"]["paths"]
    for needed in ("data/**", "params.yaml", "src/**", "gx/**", "dvc.yaml", "dvc.lock"):
        assert needed in paths
    # A new lock is a new environment to train in: Dependabot's pull requests retrain.
    for lock in LOCKS:
        name = lock.relative_to(ROOT).as_posix()
        assert any(fnmatch.fnmatch(name, pattern) for pattern in paths), name
    steps = _steps(data)
    checkout = next(
        s for s in steps if s.get("uses", "").startswith("actions/checkout")
    )
    assert checkout["with"]["fetch-depth"] == 0
    caches = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
    assert caches and caches[0]["with"]["path"] == ".dvc/cache"
    post = next(s for s in steps if "cml comment update" in s.get("run", ""))
    assert "--watermark-title=" in post["run"]
    assert (
        post["if"]
        == "github.event.pull_request.head.repo.full_name == github.repository"
    )


def test_retrain_runs_monthly_and_on_demand_and_opens_a_pr() -> None:
    data = _load(ROOT / ".github" / "workflows" / "retrain.yml")
    assert set(data["on"]) == {"schedule", "workflow_dispatch"}
    runs = "\n".join(step.get("run", "") for step in _steps(data))
    assert "make next-month" in runs and "make repro" in runs
    assert "cml pr create" in runs and "cml comment create report.md" in runs


def test_scale_out_switches_are_off_unless_configured() -> None:
    train = _load(ROOT / ".github" / "workflows" / "train.yml")
    launch = train["jobs"]["launch-runner"]
    assert launch["if"] == "vars.CML_CLOUD != ''"
    assert "cml runner launch" in _steps({"jobs": {"l": launch}})[-1]["run"]
    job = train["jobs"]["train"]
    assert job["needs"] == "launch-runner"
    assert job["runs-on"].endswith("|| 'ubuntu-latest' }}")
    for name in ("train.yml", "retrain.yml"):
        steps = _steps(_load(ROOT / ".github" / "workflows" / name))
        remote = [s for s in steps if s.get("run") in ("make pull", "make push")]
        assert remote and all("vars.DVC_REMOTE == 'true'" in s["if"] for s in remote)


def test_dependabot_keeps_the_lock_and_the_pinned_actions_current() -> None:
    path = ROOT / ".github" / "dependabot.yml"
    data = yaml.safe_load(path.read_text())
    assert data["version"] == 2
    updates = {u["package-ecosystem"]: u for u in data["updates"]}
    assert set(updates) == {"pip", "github-actions"}
    for update in updates.values():
        assert update["directory"] == "/"
        assert update["schedule"]["interval"] == "weekly"
    # Dependabot's pip support reads requirement files in the directory and in the
    # folders right under it: the lock sits in one of those.
    assert {lock.parent for lock in LOCKS} == {ROOT / "requirements"}
    proc = subprocess.run(
        [BIN / "zizmor", "--offline", "--no-progress", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout
