"""The workflow files: linted clean, least privilege, pinned, cached, via make,
secrets only in the `cloud` environment."""

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
#: report.yml installs nothing and checks nothing out: it only posts an artifact.
INSTALLING = [p for p in WORKFLOWS if p.name != "report.yml"]
#: The lock `make install` installs from (tests/code/test_requirements.py).
LOCKS = sorted((ROOT / "requirements").glob("*.txt"))
BIN = Path(sys.executable).parent
PINNED = re.compile(
    # owner/repo, or owner/repo/path for an action in a folder of it (cache/save)
    r"^\s*(?:- )?uses: ([\w.-]+/[\w.-]+(?:/[\w.-]+)*)@([0-9a-f]{40})"
    r" # v\d+\.\d+\.\d+$"
)


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def _steps(data: dict) -> list[dict]:
    return [step for job in data["jobs"].values() for step in job["steps"]]


def test_the_workflows_exist() -> None:
    assert [p.name for p in WORKFLOWS] == [
        "ci.yml",
        "monitor.yml",
        "release.yml",
        "report.yml",
        "retrain.yml",
        "train.yml",
    ]


def test_actionlint_reports_nothing() -> None:
    proc = subprocess.run(
        [BIN / "actionlint", "-no-color"], cwd=ROOT, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == ""


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_zizmor_reports_nothing(persona: str) -> None:
    # The auditor persona adds the audits that are noisy by design (a secret
    # outside an environment, a job without a name); none of them fires either.
    # The one finding suppressed is report.yml's workflow_run trigger
    # (tests/workflows/test_report_workflow.py checks that it is the only one).
    proc = subprocess.run(
        [
            BIN / "zizmor",
            "--offline",
            "--no-progress",
            # A CI that forces colour (FORCE_COLOR, CLICOLOR_FORCE) would wrap
            # the summary in escape codes.
            "--color=never",
            f"--persona={persona}",
            ".github/workflows",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report. Good job! (1 ignored)" in proc.stdout


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


@pytest.mark.parametrize("path", INSTALLING, ids=lambda p: p.name)
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
    job = data["jobs"]["train"]
    # It runs the pull request's code: a read-only token, nothing posted from here.
    assert job["permissions"] == {"contents": "read"}
    steps = job["steps"]
    checkout = next(
        s for s in steps if s.get("uses", "").startswith("actions/checkout")
    )
    assert checkout["with"]["fetch-depth"] == 0
    caches = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
    assert caches and caches[0]["with"]["path"] == ".dvc/cache"
    runs = [s.get("run", "") for s in steps]
    assert not any("cml " in run for run in runs)
    # The metrics the gate reads are recomputed after `make repro`, before the report.
    order = ["make repro", "make recompute"]
    order += ["make report", "make gate"]
    at = [next(i for i, run in enumerate(runs) if key in run) for key in order]
    assert at == sorted(at)
    (upload,) = [
        s for s in steps if s.get("with", {}).get("name", "").startswith("report-")
    ]
    assert upload["with"]["name"] == "report-${{ github.event.pull_request.number }}"
    assert upload["with"]["path"].split() == [
        "report.md",
        "report.json",
        "report-plots/*.png",
    ]
    assert upload["if"] == "always()"


def test_retrain_runs_monthly_and_on_demand_and_opens_a_pr() -> None:
    data = _load(ROOT / ".github" / "workflows" / "retrain.yml")
    assert set(data["on"]) == {"schedule", "workflow_dispatch"}
    steps = _steps(data)
    runs = "\n".join(step.get("run", "") for step in steps)
    assert "make next-month" in runs and "make repro" in runs
    assert "cml pr create" in runs and "cml comment create report.md" in runs
    # The gate judges the retrained model against main before any PR is opened.
    gate = next(i for i, s in enumerate(steps) if "churn gate" in s.get("run", ""))
    opens = next(i for i, s in enumerate(steps) if "cml pr create" in s.get("run", ""))
    assert gate < opens
    assert steps[opens]["if"] == "steps.gate.outputs.verdict == 'pass'"
    assert data["jobs"]["retrain"]["env"]["BASE"] == "${{ github.sha }}"


def test_secrets_live_in_the_cloud_environment() -> None:
    """Every job that reads a secret (other than GitHub's own token) names the
    `cloud` environment, whose secrets only its jobs receive."""
    seen = 0
    for path in WORKFLOWS:
        for name, job in _load(path)["jobs"].items():
            text = yaml.safe_dump(job)
            secrets = set(re.findall(r"secrets\.(\w+)", text)) - {"GITHUB_TOKEN"}
            if secrets:
                seen += 1
                assert (
                    "'cloud'" in str(job.get("environment"))
                    or job.get("environment") == "cloud"
                ), f"{path.name}: {name} reads {sorted(secrets)}"
    # launch-runner and train in train.yml, retrain, and monitor.yml's log reader
    assert seen == 4


def test_scale_out_switches_are_off_unless_configured() -> None:
    train = _load(ROOT / ".github" / "workflows" / "train.yml")
    launch = train["jobs"]["launch-runner"]
    # Never for a fork: it has no secrets, and a self-hosted machine must not run
    # a stranger's code.
    assert launch["if"] == (
        "vars.CML_CLOUD != '' && "
        "github.event.pull_request.head.repo.full_name == github.repository"
    )
    assert launch["environment"] == "cloud"
    command = _steps({"jobs": {"l": launch}})[1]
    assert "cml runner launch" in command["run"]
    assert "--single" in command["run"].split()
    assert command["continue-on-error"] is True
    job = train["jobs"]["train"]
    assert job["needs"] == "launch-runner"
    assert job["if"] == "${{ !cancelled() }}"
    # GitHub's runner unless a cloud runner was launched.
    assert job["runs-on"] == (
        "${{ needs.launch-runner.result == 'success' && "
        "needs.launch-runner.outputs.runner || 'ubuntu-latest' }}"
    )
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
