"""The scheduled retrain, run by `act` in host mode on temporary clones.

Three mains: one with a month of data left (the new month passes the gate, so a
pull request is opened and the report put on it), one with every month in (a green
run with a "nothing new" notice, nothing retrained, no pull request) and one with a
month left but a setting that wrecks the model (the gate fails: no pull request,
and the run fails so that someone hears of it). The recording `cml` keeps what
would have been sent to GitHub.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import actrun
import pytest
import yaml
from test_act_train import WRECK

from conftest import ROOT, VENV, run

pytestmark = pytest.mark.slow


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def _through(repo: Path, month: int) -> None:
    """Set batches.through_month in params.yaml, keeping its comments."""
    path = repo / "params.yaml"
    text, n = re.subn(
        r"^(  through_month: )\d+", rf"\g<1>{month}", path.read_text(), flags=re.M
    )
    assert n == 1
    path.write_text(text)


def _main(dest: Path, source: Path = ROOT) -> Path:
    """A clone of `source` on `main`, with origin named as on GitHub."""
    subprocess.run(["git", "clone", "-q", str(source), str(dest)], check=True)
    for key, value in (("user.name", "test"), ("user.email", "test@example.com")):
        _git(dest, "config", key, value)
    _git(dest, "checkout", "-q", "-B", "main")
    _git(dest, "remote", "set-url", "origin", f"https://github.com/{actrun.REPOSITORY}")
    return dest


def _retrain(repo: Path, work: Path, cache: Path | None = None) -> actrun.ActRun:
    """retrain.yml by hand; `cache` is what the DVC cache step restores from."""
    return actrun.run_act(
        repo,
        venv=VENV,
        work=work,
        workflow="retrain.yml",
        event_name="workflow_dispatch",
        payload={"ref": "refs/heads/main", "inputs": {}},
        env={"ACT_CACHE_DIR": str(cache)} if cache else None,
    )


def _cml_calls(run: actrun.ActRun) -> list[list[str]]:
    calls = run.record / "calls.jsonl"
    if not calls.exists():
        return []
    return [json.loads(line)["args"] for line in calls.read_text().splitlines()]


@pytest.fixture(scope="module")
def month_six(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A main with months 1-6 in and the pipeline's results committed for them."""
    repo = _main(tmp_path_factory.mktemp("month-six") / "repo")
    _through(repo, 6)
    run(["dvc", "repro"], repo)
    _git(repo, "commit", "-qam", "Months 1-6")
    return repo


def _mains_cache(month_six: Path, tmp: Path) -> Path:
    """What the cache step restores: the DVC cache that the run on main of months
    1-6 left (ci.yml's `dvc-cache` job saves one on every push to main)."""
    cache = tmp / "act-cache"
    shutil.copytree(month_six / ".dvc" / "cache", cache / "dvc-Linux-months-1-6")
    return cache


@pytest.fixture(scope="module")
def one_left(month_six: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("retrain-one-left")
    repo = _main(tmp / "repo", month_six)
    return {"run": _retrain(repo, tmp, _mains_cache(month_six, tmp)), "repo": repo}


@pytest.fixture(scope="module")
def none_left(tmp_path_factory: pytest.TempPathFactory) -> actrun.ActRun:
    tmp = tmp_path_factory.mktemp("retrain-none-left")
    repo = _main(tmp / "repo")
    _through(repo, 7)
    _git(repo, "commit", "-qam", "Every month in")
    return _retrain(repo, tmp)


@pytest.fixture(scope="module")
def refused(month_six: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Month 7 is left, but main's params now wreck the model it will train; the
    metrics committed on main are still those of the good month-6 model."""
    tmp = tmp_path_factory.mktemp("retrain-refused")
    repo = _main(tmp / "repo", month_six)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for assignment in WRECK:
        actrun.set_param(params, assignment)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _git(repo, "commit", "-qam", "A setting that wrecks the model")
    # This main's dvc.lock still names the month-6 model's predictions, which
    # reproducing it cannot give (its params changed since): they come from the
    # DVC cache that the run on main of months 1-6 left, as on GitHub.
    return {"run": _retrain(repo, tmp, _mains_cache(month_six, tmp)), "repo": repo}


def test_one_month_left_opens_a_pull_request_with_the_report(one_left: dict) -> None:
    run = one_left["run"]
    assert run.returncode == 0, run.output[-6000:]
    assert "month 7 of 7 arrives" in run.output
    assert "changed=true" in run.output
    # main's predictions came with its DVC cache: nothing reproduced main for them.
    step = actrun.step_log(run.output, "Put main's predictions in the DVC cache")
    assert "readable=true" in step and "reproducing" not in step
    assert "gate passed" in run.output
    calls = _cml_calls(run)
    assert [c[:2] for c in calls] == [["pr", "create"], ["comment", "create"]]
    assert calls[0][-5:] == ["params.yaml", "dvc.lock", "metrics", "plots", "data"]
    assert calls[1][2:] == ["report.md", "--target=pr/1"]
    report = (run.record / "1" / "report.md").read_text()
    assert report.startswith("## Churn model report")
    assert "**Quality gate: ✅ pass**" in report
    # The report compares with main as it was before the run: months 1-6.
    assert "| `batches.through_month` | `6` | `7` |" in report


def test_all_months_in_is_a_green_run_with_nothing_new(
    none_left: actrun.ActRun,
) -> None:
    assert none_left.returncode == 0, none_left.output[-6000:]
    assert "no new month of data" in none_left.output  # churn next-month's warning
    assert "::notice title=Nothing new::Every month of data is already in" in (
        none_left.output
    )
    # Nothing was retrained, judged or opened.
    for step in ("Reproduce the pipeline", "Quality gate", "Open a pull request"):
        assert f"Run Main {step}" not in none_left.output
    assert _cml_calls(none_left) == []


def test_a_retrain_whose_gate_fails_opens_no_pull_request(refused: dict) -> None:
    run = refused["run"]
    assert run.returncode != 0
    assert "gate FAILED (rule: regression)" in run.output
    assert "verdict=fail" in run.output
    assert "The quality gate's verdict on the retrained model is 'fail'" in (
        run.output
    ), run.output[-8000:]
    assert "Failure - Main Refuse a model that did not pass the gate" in run.output
    assert "Run Main Open a pull request" not in run.output
    assert _cml_calls(run) == []
    # What the run made is still there to look at.
    report = (run.artifacts / "retrain" / "report.md").read_text()
    assert "**Quality gate: ❌ fail** (rule `regression`)" in report
