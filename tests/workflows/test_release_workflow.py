"""The release workflow: linted, least-privilege, and run for real under `act`.

Under act the job runs on this machine against a temporary clone. actions/checkout is
act's own local checkout; actions/setup-python is mapped to the stand-in in
tests/workflows/actions/release/; `gh` is a recording stand-in on PATH, so the run
goes through the real pipeline, package, smoke test and tag push (to a local bare
repository), and stops short of GitHub only at the publishing command itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from churn import lineage
from churn.delivery import package
from conftest import ROOT, VENV, assert_same_values, clone

WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
STAND_INS = ROOT / "tests" / "workflows" / "actions" / "release"
BIN = VENV / "bin"
_USES = re.compile(r"uses:\s*([\w.-]+/[\w.-]+)@(\S+)(.*)")


def _workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def _steps() -> list[dict]:
    return _workflow()["jobs"]["release"]["steps"]


def _uses() -> list[tuple[str, str, str]]:
    return [m.groups() for m in _USES.finditer(WORKFLOW.read_text())]


def _tool(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / name), *args], cwd=ROOT, capture_output=True, text=True
    )


def test_actionlint_passes() -> None:
    proc = _tool("actionlint", str(WORKFLOW))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_offline_passes() -> None:
    proc = _tool("zizmor", "--offline", str(WORKFLOW))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


def test_least_privilege_and_one_release_at_a_time() -> None:
    flow = _workflow()
    assert flow["permissions"] == {}
    assert flow["jobs"]["release"]["permissions"] == {"contents": "write"}
    assert flow["concurrency"] == {"group": "release", "cancel-in-progress": False}
    # PyYAML reads the key `on` as True.
    assert flow[True]["push"] == {"branches": ["main"]}


def test_every_action_is_pinned_to_a_commit_with_its_tag() -> None:
    uses = _uses()
    assert uses, "the workflow uses no actions?"
    for action, ref, comment in uses:
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{action} is not pinned: {ref}"
        assert re.search(r"#\s*v\d+", comment), f"{action}@{ref} lacks its tag comment"


def test_steps_gate_and_smoke_test_before_anything_is_published() -> None:
    runs = [step.get("run", "") for step in _steps()]
    order = [
        "make install",
        "make repro",
        "make package",
        "churn smoke",
        "git tag",
    ]
    at = [next(i for i, run in enumerate(runs) if key in run) for key in order]
    publish = next(i for i, run in enumerate(runs) if "gh release create" in run)
    assert at == sorted(at) and at[-1] < publish


# --- the real run under act -----------------------------------------------------

FAKE_GH = """#!/usr/bin/env bash
# Records each call; keeps a copy of every file handed to `gh release create`.
printf '%s\\n' "$*" >> "{record}/calls.txt"
if [ "$1 $2" = "release create" ]; then
  for arg in "$@"; do
    if [ -f "$arg" ]; then cp "$arg" "{record}/"; fi
  done
fi
"""


def _job_venv(tmp: Path) -> Path:
    """A virtualenv for the job that sees this test run's packages, installs nothing.

    Its install stamp is dated in the future, so `make install` has nothing to do:
    the job must never install into (or re-point) the virtualenv running the tests.
    """
    venv = tmp / "job-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    shared = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    lines = [f"import site; site.addsitedir({p!r})" for p in shared]
    (site / "shared_packages.pth").write_text("\n".join(lines) + "\n")
    stamp = venv / ".installed"
    stamp.touch()
    os.utime(stamp, (4_102_444_800, 4_102_444_800))  # 2100-01-01
    return venv


_NOT_INHERITED = {
    "CHURN_ROOT",
    "PYTHONPATH",
    "VENV",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
}


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def _act(repo: Path, tmp: Path, fake_bin: Path) -> subprocess.CompletedProcess:
    """Run the release workflow under act for a push to main of `repo`."""
    event = tmp / "event.json"
    event.write_text(json.dumps({"ref": "refs/heads/main"}))
    venv = tmp / "job-venv"
    if not venv.exists():
        _job_venv(tmp)
    mapped = []
    for action, ref, _ in _uses():
        if action == "actions/checkout":
            continue  # act checks out the local repository itself
        stand_in = STAND_INS / action.split("/")[1]
        assert (stand_in / "action.yml").is_file(), f"no stand-in for {action}"
        mapped += ["--local-repository", f"{action}@{ref}={stand_in}"]
    path = os.pathsep.join(
        [str(fake_bin), str(venv / "bin"), str(BIN), os.environ["PATH"]]
    )
    cmd = [
        str(BIN / "act"),
        "push",
        "-W",
        ".github/workflows/release.yml",
        "-P",
        "ubuntu-latest=-self-hosted",
        "-e",
        str(event),
        *mapped,
        "--env",
        f"VENV={venv}",
        "--env",
        f"PATH={path}",
        "--env",
        "GIT_PAGER=cat",
    ]
    # Steps see this environment. Under `make test`, MAKEFLAGS carries the outer
    # make's `VENV=...`, which would beat the job's VENV and send `make install`
    # into the virtualenv running the tests: drop make's variables, and ours.
    env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
    proc = subprocess.run(
        cmd, cwd=repo, env=env, capture_output=True, text=True, timeout=1200
    )
    # The job's `make install` must have found its virtualenv ready, never
    # installing into (or re-pointing) the one running the tests.
    assert "Nothing to be done for 'install'" in proc.stdout + proc.stderr, proc.stdout[
        -6000:
    ]
    return proc


@pytest.fixture(scope="module")
def act_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One run of the release workflow under act, and what it left behind."""
    tmp = tmp_path_factory.mktemp("release")
    repo = clone(tmp / "repo")
    _git(repo, "checkout", "-q", "-B", "main")
    # An earlier release, so the version comes from the tags: 1.2.0 -> 1.3.0.
    _git(repo, "tag", "-a", "churn-model@v1.2.0", "-m", "an earlier release")
    origin = tmp / "origin.git"
    _git(tmp, "clone", "-q", "--bare", str(repo), str(origin))
    _git(repo, "remote", "set-url", "origin", str(origin))
    record = tmp / "published"
    record.mkdir()
    fake_bin = tmp / "fake-bin"
    fake_bin.mkdir()
    gh = fake_bin / "gh"
    gh.write_text(FAKE_GH.format(record=record))
    gh.chmod(0o755)
    proc = _act(repo, tmp, fake_bin)
    return {
        "proc": proc,
        "output": proc.stdout + proc.stderr,
        "repo": repo,
        "origin": origin,
        "record": record,
        "tmp": tmp,
        "fake_bin": fake_bin,
    }


@pytest.fixture(scope="module")
def act_rerun(act_run: dict) -> dict:
    """The workflow again on the same commit, now that 1.3.0 holds its model."""
    repo, record = act_run["repo"], act_run["record"]
    _git(repo, "fetch", "-q", "--tags", "origin")
    calls = (record / "calls.txt").read_text()
    proc = _act(repo, act_run["tmp"], act_run["fake_bin"])
    return {
        "proc": proc,
        "output": proc.stdout + proc.stderr,
        "new_calls": (record / "calls.txt").read_text()[len(calls) :],
    }


@pytest.mark.slow
def test_release_job_succeeds_under_act(act_run: dict) -> None:
    output = act_run["output"]
    assert act_run["proc"].returncode == 0, output[-6000:]
    assert "Job succeeded" in output
    assert "smoke test passed: churn-model 1.3.0" in output


@pytest.mark.slow
def test_version_tag_is_pushed_as_gto_reads_it(act_run: dict) -> None:
    origin, repo = act_run["origin"], act_run["repo"]
    tags = _git(origin, "tag", "--list", "churn-model@v*").split()
    assert tags == ["churn-model@v1.2.0", "churn-model@v1.3.0"]
    assert _git(origin, "rev-parse", "churn-model@v1.3.0^{commit}") == _git(
        repo, "rev-parse", "HEAD"
    )
    message = _git(
        origin, "tag", "--list", "--format=%(contents)", "churn-model@v1.3.0"
    )
    manifest = package.load(act_run["record"] / "churn-model-1.3.0.tar.gz").manifest
    assert message.splitlines() == [
        "Registering artifact churn-model version v1.3.0",
        "",
        f"model inputs {manifest['model']['inputs']}",
        "",
        f"model.skops sha256 {manifest['model']['sha256']}",
    ]
    # What names the model is what made it, the same on every machine.
    lock = lineage.read_lock(repo / "dvc.lock")
    assert manifest["model"]["inputs"] == lineage.identity(lock)


@pytest.mark.slow
def test_publishing_received_the_package_card_and_metrics(act_run: dict) -> None:
    record = act_run["record"]
    calls = (record / "calls.txt").read_text().splitlines()
    assert calls[0] == "auth setup-git"
    create = calls[1].split()
    assert create[:4] == ["release", "create", "churn-model@v1.3.0", "--verify-tag"]
    published = sorted(p.name for p in record.iterdir() if p.name != "calls.txt")
    assert published == [
        "churn-model-1.3.0.tar.gz",
        "metrics.json",
        "model.skops.sha256",
        "model_card.json",
        "model_card.md",
    ]
    pkg = package.load(record / "churn-model-1.3.0.tar.gz")  # verifies the SHA-256
    assert pkg.version == "1.3.0"
    assert_same_values(record / "metrics.json", ROOT / "metrics" / "metrics.json")
    # The published card is the packaged one (the pipeline's card when it wrote one).
    with tarfile.open(record / "churn-model-1.3.0.tar.gz") as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("model_card.md"))
        packaged = tar.extractfile(member).read().decode()
    assert (record / "model_card.md").read_text() == packaged
    assert packaged.startswith("# Model card")


@pytest.mark.slow
def test_an_unchanged_model_is_checked_but_not_released_again(
    act_run: dict, act_rerun: dict
) -> None:
    output = act_rerun["output"]
    assert act_rerun["proc"].returncode == 0, output[-6000:]
    assert "changed=false" in output
    assert "smoke test passed: churn-model 1.4.0" in output
    assert act_rerun["new_calls"] == "", "nothing may be published"
    tags = _git(act_run["origin"], "tag", "--list", "churn-model@v*").split()
    assert tags == ["churn-model@v1.2.0", "churn-model@v1.3.0"]
