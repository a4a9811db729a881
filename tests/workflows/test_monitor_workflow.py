"""The monitor workflow: linted, least privilege, and run for real under `act`.

Under act the jobs run on this machine against a temporary clone, the actions mapped
to the stand-ins in tests/workflows/actions/. The log comes from a `file://` URL
(read through fsspec, as an `s3://` one would be); `gh` is a recording stand-in on
PATH that hands over a model package for `gh release download`. The retrain
workflow must be started when the traffic drifted, and only then.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import actrun
import pytest
import yaml

from conftest import ROOT, VENV, clone
from delivery_helpers import build_package, write_log

WORKFLOW = ROOT / ".github" / "workflows" / "monitor.yml"
BIN = VENV / "bin"

FAKE_GH = """#!/usr/bin/env bash
# Records each call; `release download ... --dir D` gets the package from {package}.
printf '%s\\n' "$*" >> "{record}/calls.txt"
if [ "$1 $2" = "release download" ]; then
  while [ $# -gt 0 ]; do
    if [ "$1" = "--dir" ]; then mkdir -p "$2"; cp "{package}" "$2/"; fi
    shift
  done
fi
"""


def _workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True)
    return data


def test_runs_daily_and_by_hand_and_only_once_configured() -> None:
    flow = _workflow()
    assert set(flow["on"]) == {"schedule", "workflow_dispatch"}
    assert flow["permissions"] == {}
    monitor, retrain = flow["jobs"]["monitor"], flow["jobs"]["retrain"]
    assert monitor["if"] == "vars.MONITOR_LOG_URL != ''"
    assert monitor["permissions"] == {"contents": "read"}
    # Only the job that starts the retrain may start workflows.
    assert retrain["permissions"] == {"actions": "write"}
    assert retrain["needs"] == "monitor"
    assert retrain["if"] == "needs.monitor.outputs.verdict == 'retrain'"
    assert "gh workflow run retrain.yml" in retrain["steps"][0]["run"]


def test_zizmor_auditor_persona_finds_nothing() -> None:
    proc = subprocess.run(
        [BIN / "zizmor", "--offline", "--no-progress", "--persona=auditor", WORKFLOW],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings to report" in proc.stdout


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("monitor-act")
    repo = clone(tmp / "repo")
    subprocess.run(
        [
            "git",
            "remote",
            "set-url",
            "origin",
            f"https://github.com/{actrun.REPOSITORY}.git",
        ],
        cwd=repo,
        check=True,
    )
    folder = build_package(tmp / "pkg", version="1.3.0")
    built = folder.with_name(folder.name + ".tar.gz")
    venv = actrun.borrowed_venv(VENV, tmp / "venv")
    return {"tmp": tmp, "repo": repo, "built": built, "venv": venv}


def _act(setup: dict, name: str, log_dir: Path, repo: Path | None = None) -> dict:
    work = setup["tmp"] / name
    record, fake_bin, artifacts = work / "record", work / "bin", work / "artifacts"
    for folder in (record, fake_bin):
        folder.mkdir(parents=True)
    gh = fake_bin / "gh"
    gh.write_text(FAKE_GH.format(record=record, package=setup["built"]))
    gh.chmod(0o755)
    event = work / "event.json"
    event.write_text(
        json.dumps(
            {"repository": {"full_name": actrun.REPOSITORY, "default_branch": "main"}}
        )
    )
    venv = setup["venv"]
    path = os.pathsep.join([str(fake_bin), str(venv / "bin"), os.environ["PATH"]])
    cmd = [
        str(BIN / "act"),
        "workflow_dispatch",
        "-W",
        ".github/workflows/monitor.yml",
        "-P",
        "ubuntu-latest=-self-hosted",
        "-e",
        str(event),
        *actrun.mappings(WORKFLOW),
        "--var",
        f"MONITOR_LOG_URL={log_dir.as_uri()}",
        "--env",
        f"VENV={venv}",
        "--env",
        f"PATH={path}",
        "--env",
        f"ARTIFACT_DIR={artifacts}",
    ]
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CHURN_ROOT", "PYTHONPATH", "VENV", "MAKEFLAGS", "MAKELEVEL")
    }
    proc = subprocess.run(
        cmd,
        cwd=repo or setup["repo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    calls = record / "calls.txt"
    return {
        "proc": proc,
        "output": proc.stdout + proc.stderr,
        "calls": calls.read_text().splitlines() if calls.is_file() else [],
        "artifacts": artifacts,
    }


def _result(run: dict) -> dict:
    found = sorted(run["artifacts"].rglob("monitor.json"))
    assert found, run["output"][-6000:]
    return json.loads(found[0].read_text())


@pytest.mark.slow
def test_drifted_traffic_starts_the_retrain(setup: dict) -> None:
    log_dir = write_log(setup["tmp"] / "drifted-log", setup["built"], 7)
    run = _act(setup, "drifted", log_dir)
    assert run["proc"].returncode == 0, run["output"][-6000:]
    assert run["calls"][0].startswith("release download --repo example/churn")
    assert run["calls"][1:] == [
        "workflow run retrain.yml --repo example/churn --ref main"
    ]
    result = _result(run)
    assert result["verdict"] == "retrain" and "contract" in result["drifted_features"]
    assert "Retraining started" in run["output"]


@pytest.mark.slow
def test_healthy_traffic_starts_nothing(setup: dict) -> None:
    log_dir = setup["tmp"] / "healthy-log"
    for month in (1, 2, 3, 4):
        write_log(log_dir, setup["built"], month)
    run = _act(setup, "healthy", log_dir)
    assert run["proc"].returncode == 0, run["output"][-6000:]
    assert [c.split()[:2] for c in run["calls"]] == [["release", "download"]]
    result = _result(run)
    assert result["verdict"] == "healthy" and result["rows"] > 4000


@pytest.mark.slow
def test_a_log_it_cannot_judge_fails_the_job_and_starts_nothing(setup: dict) -> None:
    empty = setup["tmp"] / "empty-log"
    empty.mkdir()
    run = _act(setup, "empty", empty)
    assert run["proc"].returncode != 0
    assert "Cannot judge" in run["output"]
    assert not any(c.startswith("workflow run") for c in run["calls"])
    result = _result(run)
    assert result["verdict"] == "cannot judge"
    shutil.rmtree(empty)


@pytest.mark.slow
def test_a_monitor_that_crashes_starts_nothing(setup: dict) -> None:
    # Python exits 1 on an uncaught error, the code of "retrain": the workflow must
    # also find the verdict in the report before it starts anything.
    repo = clone(setup["tmp"] / "crashing-repo")
    broken = repo / "src" / "churn" / "delivery" / "monitor.py"
    broken.write_text('raise RuntimeError("a broken install")\n')
    subprocess.run(["git", "commit", "-qam", "Break the monitor"], cwd=repo, check=True)
    log_dir = write_log(setup["tmp"] / "crash-log", setup["built"], 7)
    run = _act(setup, "crash", log_dir, repo=repo)
    assert run["proc"].returncode != 0
    assert "RuntimeError: a broken install" in run["output"], run["output"][-6000:]
    assert "churn monitor exited 1 with the verdict 'none'" in run["output"]
    assert not any(c.startswith("workflow run") for c in run["calls"])
