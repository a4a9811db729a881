"""The release workflow: linted, least-privilege, and run for real under `act`.

Under act the job runs on this machine against a temporary clone, with the stand-in
actions of tests/workflows/actions/ (actions/attest among them: it records what
would be attested) and the recording `gh` of tests/workflows/bin/, so the run goes
through the real pipeline, gate, package, smoke test and tag push (to a local bare
repository), and stops short of GitHub only at the publishing commands themselves.
Runs: a first release; the same commit again (released: nothing to do); the same
commit after a release that was tagged but never published (it is finished); and a
run by hand on a branch (refused before anything is tagged).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import actrun
import pytest
import yaml

from churn import lineage
from churn.delivery import package
from conftest import ROOT, VENV, assert_same_values, clone

WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
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
    proc = _tool(
        "zizmor", "--offline", "--color=never", "--persona=auditor", str(WORKFLOW)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "No findings" in proc.stdout + proc.stderr


def test_least_privilege_and_one_release_at_a_time() -> None:
    flow = _workflow()
    assert flow["permissions"] == {}
    # The tag and the release, and the attestation: only this job, only these.
    assert flow["jobs"]["release"]["permissions"] == {
        "contents": "write",
        "id-token": "write",
        "attestations": "write",
        "artifact-metadata": "write",
    }
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
    steps = _steps()
    runs = [step.get("run", "") + step.get("uses", "") for step in steps]
    order = [
        "refs/heads/main",
        "make install",
        "make repro",
        "make recompute",
        "--release-plan",
        "make package",
        "churn smoke",
        "churn gate --base",
        "git tag -a",
        "actions/attest@",
        "gh release create",
    ]
    at = [next(i for i, run in enumerate(runs) if key in run) for key in order]
    assert at == sorted(at), list(zip(order, at, strict=True))
    # Refused first, before the checkout: nothing of a branch is even built.
    assert at[0] == 0


def test_attestation_covers_the_package_and_skips_private_repositories() -> None:
    (attest,) = [s for s in _steps() if s.get("uses", "").startswith("actions/attest@")]
    assert attest["uses"].endswith("1e69f48acb82d1966a394da916b4c1698aa569d6")
    assert "!github.event.repository.private" in attest["if"]
    subjects = attest["with"]["subject-path"].splitlines()
    assert [s.rsplit("}}", 1)[1] for s in subjects] == [
        ".tar.gz",
        "/model.skops.sha256",
    ]


# --- the real run under act -----------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def _act(
    repo: Path, work: Path, *, event: str = "push", payload: dict | None = None
) -> actrun.ActRun:
    """Run the release workflow under act for a push to main of `repo`."""
    run = actrun.run_act(
        repo,
        venv=VENV,
        work=work,
        workflow="release.yml",
        event_name=event,
        payload=payload or {"ref": "refs/heads/main"},
    )
    return run


def _gh_calls(work: Path) -> list[list[str]]:
    calls = work / "gh" / "calls.jsonl"
    if not calls.exists():
        return []
    return [json.loads(line)["args"] for line in calls.read_text().splitlines()]


def _tags(origin: Path) -> list[str]:
    return _git(origin, "tag", "--list", "churn-model@v*").split()


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A clone whose main had a release (1.2.0) one commit ago, pushing to a local
    bare origin; the release workflow run once on it."""
    tmp = tmp_path_factory.mktemp("release")
    repo = clone(tmp / "repo")
    _git(repo, "checkout", "-q", "-B", "main")
    # An earlier release, so the version comes from the tags (1.2.0 -> 1.3.0) and
    # the gate has a previous release to judge against.
    _git(repo, "tag", "-a", "churn-model@v1.2.0", "-m", "an earlier release")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "A merge after 1.2.0")
    origin = tmp / "origin.git"
    _git(tmp, "clone", "-q", "--bare", str(repo), str(origin))
    _git(repo, "remote", "set-url", "origin", str(origin))
    run = _act(repo, tmp)
    return {"run": run, "repo": repo, "origin": origin, "work": tmp}


@pytest.fixture(scope="module")
def rerun(released: dict) -> dict:
    """The workflow again on the same commit, now that 1.3.0 is released."""
    repo, work = released["repo"], released["work"]
    _git(repo, "fetch", "-q", "--tags", "origin")
    before = len(_gh_calls(work))
    run = _act(repo, work)
    return {"run": run, "new_calls": _gh_calls(work)[before:]}


@pytest.fixture(scope="module")
def resumed(released: dict, rerun: dict) -> dict:
    """The same commit once more, as after a run that pushed the tag 1.3.0 and
    then failed before `gh release create`: the tag is there, GitHub has no
    release for it (`gh release view` fails). The repository is private here, so
    the attestation is skipped."""
    repo, work = released["repo"], released["work"]
    (work / "gh" / "releases.txt").write_text("")
    shutil.rmtree(work / "gh" / "release")
    attested = (work / "gh" / "attestations.txt").read_text()
    before = len(_gh_calls(work))
    payload = {"ref": "refs/heads/main", "repository": {"private": True}}
    run = _act(repo, work, payload=payload)
    return {"run": run, "new_calls": _gh_calls(work)[before:], "attested": attested}


@pytest.mark.slow
def test_release_job_succeeds_under_act(released: dict) -> None:
    run = released["run"]
    assert run.returncode == 0, run.output[-6000:]
    assert "Job succeeded" in run.output
    assert "smoke test passed: churn-model 1.3.0" in run.output
    # A fresh runner's `make repro` ran evaluate (its predictions are in no commit):
    # the recompute step, reading the log of that step, does not run it again.
    assert "evaluate ran in this job's make repro" in run.output
    assert "--single-item drift evaluate" not in run.output
    # The job's `make install` found its virtualenv's stamp in agreement with the
    # digest it took, never installing into (or re-pointing) the one running the
    # tests.
    assert "already holds this lock: nothing to install" in run.output
    assert "pip install" not in run.output


@pytest.mark.slow
def test_the_gate_judged_the_model_against_the_previous_release(
    released: dict,
) -> None:
    output = released["run"].output
    assert "judging against the previous release, churn-model@v1.2.0" in output
    assert "gate passed" in output
    gate = output.index("Success - Main Quality gate against the previous release")
    assert gate < output.index("Success - Main Tag the model version")


@pytest.mark.slow
def test_version_tag_is_pushed_as_gto_reads_it(released: dict) -> None:
    origin, repo = released["origin"], released["repo"]
    assert _tags(origin) == ["churn-model@v1.2.0", "churn-model@v1.3.0"]
    assert _git(origin, "rev-parse", "churn-model@v1.3.0^{commit}") == _git(
        repo, "rev-parse", "HEAD"
    )
    message = _git(
        origin, "tag", "--list", "--format=%(contents)", "churn-model@v1.3.0"
    )
    published = released["work"] / "gh" / "release" / "churn-model@v1.3.0"
    manifest = package.load(published / "churn-model-1.3.0.tar.gz").manifest
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
def test_publishing_received_the_package_card_and_metrics(released: dict) -> None:
    calls = _gh_calls(released["work"])
    assert [c[:2] for c in calls] == [["auth", "setup-git"], ["release", "create"]]
    create = next(c for c in calls if c[:2] == ["release", "create"])
    assert create[:4] == ["release", "create", "churn-model@v1.3.0", "--verify-tag"]
    record = released["work"] / "gh" / "release" / "churn-model@v1.3.0"
    published = sorted(p.name for p in record.iterdir())
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
def test_the_published_files_are_the_attested_ones(released: dict) -> None:
    record = released["work"] / "gh" / "release" / "churn-model@v1.3.0"
    attested = (released["work"] / "gh" / "attestations.txt").read_text().splitlines()
    names = {line.split()[1].rsplit("/", 1)[1]: line.split()[0] for line in attested}
    assert sorted(names) == ["churn-model-1.3.0.tar.gz", "model.skops.sha256"]
    for name, digest in names.items():
        assert hashlib.sha256((record / name).read_bytes()).hexdigest() == digest


@pytest.mark.slow
def test_an_unchanged_model_is_checked_but_not_released_again(
    released: dict, rerun: dict
) -> None:
    run = rerun["run"]
    assert run.returncode == 0, run.output[-6000:]
    assert "Already released" in run.output
    assert "smoke test passed: churn-model 1.3.0" in run.output
    assert rerun["new_calls"] == [["release", "view", "churn-model@v1.3.0"]]
    assert _tags(released["origin"]) == ["churn-model@v1.2.0", "churn-model@v1.3.0"]


@pytest.mark.slow
def test_a_tagged_but_unpublished_release_is_finished(
    released: dict, resumed: dict
) -> None:
    run = resumed["run"]
    assert run.returncode == 0, run.output[-6000:]
    assert "Finishing a release" in run.output
    assert "changed=false" in run.output  # the plan alone would release nothing
    creates = [c for c in resumed["new_calls"] if c[:2] == ["release", "create"]]
    assert [c[2] for c in creates] == ["churn-model@v1.3.0"]
    # No new version, no new tag: the same one, now with its release.
    assert _tags(released["origin"]) == ["churn-model@v1.2.0", "churn-model@v1.3.0"]
    publishing = run.output.split("Run Main Publish the release", 1)[1]
    assert "[new tag]" not in publishing and "up-to-date" not in publishing
    record = released["work"] / "gh" / "release" / "churn-model@v1.3.0"
    assert package.load(record / "churn-model-1.3.0.tar.gz").version == "1.3.0"
    # A private repository: the attestation step is skipped, the release is not.
    attested = (released["work"] / "gh" / "attestations.txt").read_text()
    assert attested == resumed["attested"]
    assert "Run Main Attest where the package was built" not in run.output


@pytest.mark.slow
def test_a_release_dispatched_from_a_branch_is_refused_before_any_tag(
    tmp_path: Path,
) -> None:
    repo = clone(tmp_path / "repo")
    _git(repo, "checkout", "-q", "-b", "feature")
    origin = tmp_path / "origin.git"
    _git(tmp_path, "clone", "-q", "--bare", str(repo), str(origin))
    _git(repo, "remote", "set-url", "origin", str(origin))
    payload = {"ref": "refs/heads/feature", "inputs": {"bump": "major"}}
    run = _act(repo, tmp_path, event="workflow_dispatch", payload=payload)
    assert run.returncode != 0
    assert "releases are made from refs/heads/main only, not refs/heads/feature" in (
        run.output
    )
    assert "Failure - Main Release from main only" in run.output
    for later in ("make install", "Run Main Tag the model version"):
        assert later not in run.output
    assert _tags(origin) == []
    assert _gh_calls(tmp_path) == []
