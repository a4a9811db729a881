"""Run a workflow of this repository locally with `act`, on a pull-request event.

`make act-train PARAM=train.logistic_regression.C=0.3` (or `python
tests/workflows/actrun.py --param ...`) clones the repository into a temporary
folder, makes a `main` branch of its current commit and a `pr` branch that changes
the parameter. First `.github/workflows/ci.yml`'s `dvc-cache` job runs on a push
of `main` and saves main's DVC cache, as on GitHub (`--cold-cache` skips it: train
then reproduces main itself). Then `.github/workflows/train.yml` runs on the pull
request with `act` in host mode (no Docker), restoring that cache, and
`.github/workflows/report.yml` on the `workflow_run` event that train's end would
send, as GitHub does: train uploads the report as an artifact and report.yml posts
it. Third-party actions are replaced
by the stand-ins in `tests/workflows/actions/`, mapped ref for ref, SHA included;
`cml` and `gh` are recording stand-ins that keep what they would have sent to
GitHub instead of calling it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
# Run as a script (`make act-train`), this folder is on the path but tests/ is not.
sys.path.insert(0, str(HERE.parent))
import scratch  # noqa: E402

STANDINS = HERE / "actions"
#: The recording `gh`, put first on PATH (GitHub's runners have the real one).
GH_BIN = HERE / "bin"
#: act derives `github.repository` from the origin URL; nothing is fetched from it.
REPOSITORY = "example/churn"
#: A terminal escape sequence (colours and the like).
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

log = logging.getLogger("actrun")


def uses(workflow: Path) -> list[str]:
    """Every `uses:` reference of a workflow's steps, as written (with the ref)."""
    data = yaml.safe_load(workflow.read_text())
    return sorted(
        {
            step["uses"]
            for job in data["jobs"].values()
            for step in job.get("steps", [])
            if "uses" in step
        }
    )


def mappings(workflow: Path, standins: Path = STANDINS) -> list[str]:
    """`--local-repository` arguments mapping each action's repository@ref to its
    stand-in. act maps repositories, so `actions/cache/save@REF` is found in the
    folder `save/` of the stand-in for `actions/cache@REF`."""
    out: list[str] = []
    for ref in uses(workflow):
        name, version = ref.split("@", 1)
        owner, repo, *sub = name.split("/")
        folder = standins / owner / repo
        if not folder.joinpath(*sub, "action.yml").is_file():
            raise FileNotFoundError(f"no local stand-in for {ref} in {folder}")
        mapping = f"{owner}/{repo}@{version}={folder}"
        out += [] if mapping in out else ["--local-repository", mapping]
    return out


def set_param(params: dict[str, Any], assignment: str) -> None:
    """Apply `a.b.c=value` (value parsed as YAML) to nested `params` in place."""
    key, _, raw = assignment.partition("=")
    scratch.set_param(params, key, yaml.safe_load(raw))


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def pull_request_clone(
    dest: Path,
    assignments: list[str],
    source: Path = ROOT,
    files: dict[str, str] | None = None,
) -> Path:
    """A clone whose `main` is the current commit and whose checked-out `pr`
    branch changes `assignments` in params.yaml and replaces the text of `files`
    (path relative to the root -> new text), in one commit."""
    subprocess.run(["git", "clone", "-q", str(source), str(dest)], check=True)
    for key, value in (("user.name", "test"), ("user.email", "test@example.com")):
        _git(dest, "config", key, value)
    _git(dest, "checkout", "-q", "-B", "main")
    _git(dest, "update-ref", "refs/remotes/origin/main", "HEAD")
    _git(dest, "remote", "set-url", "origin", f"https://github.com/{REPOSITORY}.git")
    _git(dest, "checkout", "-q", "-b", "pr")
    with scratch.params_of(dest) as params:
        for assignment in assignments:
            set_param(params, assignment)
    for name, text in (files or {}).items():
        (dest / name).write_text(text)
    changes = [*assignments, *(files or {})]
    _git(dest, "commit", "-q", "-am", f"Try {', '.join(changes)}")
    return dest


def borrowed_venv(source: Path, dest: Path) -> Path:
    """A throwaway virtualenv at `dest` that uses `source`'s installed packages.

    Pointing a job's `VENV` here keeps `source` untouched: its packages are reached
    through a `.pth` line, its tools through links in `bin/`, and the install stamp
    holds the digest `make install-key` gives for `dest` (the lock, the Python,
    the place), so the job's `make install` finds it in agreement and installs
    nothing, as with a virtualenv restored from CI's cache.
    """
    subprocess.run(
        [str(source / "bin" / "python"), "-m", "venv", "--without-pip", str(dest)],
        check=True,
    )
    site = subprocess.run(
        [
            str(source / "bin" / "python"),
            "-c",
            "import site; print(site.getsitepackages()[0])",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (
        next((dest / "lib").glob("python3*")) / "site-packages" / "borrowed.pth"
    ).write_text(site + "\n")
    for tool in (source / "bin").iterdir():
        target = dest / "bin" / tool.name
        if not target.exists() and tool.is_file() and os.access(tool, os.X_OK):
            target.symlink_to(tool)
    key = subprocess.run(
        ["make", "-s", "install-key", f"VENV={dest}"],
        cwd=ROOT,
        env=scratch.tool_env(dest),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    if not key:
        raise RuntimeError(f"make install-key printed nothing for {dest}")
    (dest / ".installed").write_text(key + "\n")
    return dest


#: Permissions newer than act's workflow schema, which refuses the whole file over
#: them. act hands a job no token whose scopes they could change.
_UNKNOWN_TO_ACT = re.compile(r"^\s+artifact-metadata: \w+.*\n", re.M)


def act_compatible(workflow: Path, work: Path) -> Path:
    """`workflow` itself, or a copy in `work` without what act cannot parse."""
    text = workflow.read_text()
    if not _UNKNOWN_TO_ACT.search(text):
        return workflow
    copy = work / "workflows" / workflow.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(_UNKNOWN_TO_ACT.sub("", text))
    return copy


def _venv_for(source: Path, work: Path) -> Path:
    """The borrowed virtualenv of `work`, made on first use and kept for reruns."""
    dest = work / "venv"
    if (dest / ".installed").exists():
        return dest
    return borrowed_venv(source, dest)


def event(repo: Path, *, fork: bool = False) -> dict[str, Any]:
    """A `pull_request` event for the clone's `pr` branch against `main`."""
    head_repo = "someone/churn" if fork else REPOSITORY
    return {
        "action": "synchronize",
        "number": 1,
        "pull_request": {
            "number": 1,
            "head": {
                "ref": "pr",
                "sha": _git(repo, "rev-parse", "pr"),
                "repo": {"full_name": head_repo},
            },
            "base": {
                "ref": "main",
                "sha": _git(repo, "rev-parse", "main"),
                "repo": {"full_name": REPOSITORY},
            },
        },
        "repository": {"full_name": REPOSITORY},
    }


#: The id act's train run gets in the `workflow_run` event that report.yml sees.
TRAIN_RUN_ID = 4242


def workflow_run_event(repo: Path, *, fork: bool, conclusion: str) -> dict[str, Any]:
    """The `workflow_run` event GitHub sends when train ends on the `pr` branch.

    For a fork GitHub leaves `pull_requests` empty; report.yml then finds the pull
    request from the artifact's name and checks it against `head_sha`.
    """
    head = _git(repo, "rev-parse", "pr")
    pulls = [] if fork else [{"number": 1, "head": {"sha": head, "ref": "pr"}}]
    return {
        "action": "completed",
        "workflow": {"name": "train"},
        "workflow_run": {
            "id": TRAIN_RUN_ID,
            "name": "train",
            "event": "pull_request",
            "status": "completed",
            "conclusion": conclusion,
            "head_sha": head,
            "head_branch": "pr",
            "head_repository": {"full_name": "someone/churn" if fork else REPOSITORY},
            "pull_requests": pulls,
        },
        "repository": {"full_name": REPOSITORY, "private": False},
    }


def open_pull_request(record: Path, repo: Path) -> None:
    """Tell the `gh` stand-in that pull request #1 is open with `pr`'s head."""
    record.mkdir(parents=True, exist_ok=True)
    pull = {
        "number": 1,
        "state": "open",
        "head": {"sha": _git(repo, "rev-parse", "pr")},
    }
    (record / "pulls.json").write_text(json.dumps({"1": pull}))


@dataclass(frozen=True)
class ActRun:
    """What one act run left behind."""

    returncode: int
    output: str
    record: Path
    artifacts: Path
    gh: Path | None = None


def step_log(output: str, name: str) -> str:
    """What act printed for the step `name`, from its start to its end."""
    start = output.index(f"⭐ Run Main {name}")
    return output[start : output.index(f"Main {name} [", start)]


def run_act(
    repo: Path,
    *,
    venv: Path,
    work: Path,
    workflow: str = "train.yml",
    fork: bool = False,
    event_name: str = "pull_request",
    payload: dict[str, Any] | None = None,
    variables: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
    job: str | None = None,
) -> ActRun:
    """Run `.github/workflows/<workflow>` in `repo` with act in host mode, with
    the packages of `venv` (which stays untouched).

    `payload` is the event (default: a pull request from `event`), `variables`
    the repository variables (`vars.*`), `env` more environment for the steps,
    `job` the one job to run (default: all). The stand-ins record into `work`:
    cml/, gh/ and artifacts/.
    """
    record, artifacts, gh = work / "cml", work / "artifacts", work / "gh"
    venv = _venv_for(venv, work)
    event_file = work / f"event-{workflow}.json"
    event_file.write_text(json.dumps(payload or event(repo, fork=fork)))
    workflow_file = repo / ".github" / "workflows" / workflow
    cmd = [
        str(venv / "bin" / "act"),
        event_name,
        "--workflows",
        str(act_compatible(workflow_file, work)),
        "--platform",
        "ubuntu-latest=-self-hosted",
        "--eventpath",
        str(event_file),
        *mappings(workflow_file),
        *(["--job", job] if job else []),
    ]
    for name, value in (variables or {}).items():
        cmd += ["--var", f"{name}={value}"]
    steps_env = {
        "VENV": str(venv),
        "CML_RECORD_DIR": str(record),
        "GH_RECORD_DIR": str(gh),
        "ARTIFACT_DIR": str(artifacts),
        **(env or {}),
    }
    for name, value in steps_env.items():
        cmd += ["--env", f"{name}={value}"]
    # Without make's variables, which would carry an outer make's VENV into the
    # job's make.
    run_env = scratch.tool_env(venv)
    run_env["PATH"] = os.pathsep.join([str(GH_BIN), run_env["PATH"]])
    log.info("running %s", " ".join(cmd))
    proc = subprocess.run(
        cmd,
        cwd=repo,
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # act colours its log when the caller forces colour (FORCE_COLOR and the like),
    # which would put escape codes between a job's name and its step.
    return ActRun(proc.returncode, ANSI.sub("", proc.stdout), record, artifacts, gh)


def run_report(
    repo: Path, train: ActRun, *, venv: Path, work: Path, fork: bool
) -> ActRun:
    """report.yml on the `workflow_run` event that the end of `train` sends."""
    open_pull_request(work / "gh", repo)
    conclusion = "success" if train.returncode == 0 else "failure"
    return run_act(
        repo,
        venv=venv,
        work=work,
        workflow="report.yml",
        event_name="workflow_run",
        payload=workflow_run_event(repo, fork=fork, conclusion=conclusion),
    )


def run_main_push(repo: Path, *, venv: Path, work: Path, cache: Path) -> ActRun:
    """ci.yml's `dvc-cache` job on a push of the clone's `main`, as GitHub runs it
    before any pull request: it reproduces main and saves its DVC cache in `cache`
    (the stand-in's $ACT_CACHE_DIR), where a pull request's train job restores it.
    The repository is on `main` meanwhile and back on `pr` after."""
    _git(repo, "checkout", "-q", "main")
    try:
        return run_act(
            repo,
            venv=venv,
            work=work,
            workflow="ci.yml",
            event_name="push",
            payload={"ref": "refs/heads/main", "repository": {"full_name": REPOSITORY}},
            env={"ACT_CACHE_DIR": str(cache)},
            job="dvc-cache",
        )
    finally:
        _git(repo, "checkout", "-q", "pr")


def run_pull_request(
    repo: Path,
    *,
    venv: Path,
    work: Path,
    fork: bool = False,
    variables: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> tuple[ActRun, ActRun]:
    """train.yml on the pull request, then report.yml on its `workflow_run`."""
    train = run_act(repo, venv=venv, work=work, fork=fork, variables=variables, env=env)
    return train, run_report(repo, train, venv=venv, work=work, fork=fork)


def main(argv: list[str] | None = None) -> int:
    """Entry point for `make act-train`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--venv", type=Path, default=Path(sys.prefix))
    parser.add_argument("--fork", action="store_true", help="a PR from a fork")
    parser.add_argument("--work", type=Path, help="empty folder for the run")
    parser.add_argument(
        "--cold-cache",
        action="store_true",
        help="no run on main saved its DVC cache: train reproduces main itself",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    work = args.work or Path(tempfile.mkdtemp(prefix="act-train-"))
    work.mkdir(parents=True, exist_ok=True)
    repo = pull_request_clone(
        work / "repo", args.param or ["train.logistic_regression.C=0.3"]
    )
    env = {}
    if not args.cold_cache:
        cache = work / "act-cache"
        push = run_main_push(repo, venv=args.venv, work=work, cache=cache)
        sys.stdout.write(push.output)
        log.info("ci.yml dvc-cache on main: act exited %d", push.returncode)
        if push.returncode:
            return push.returncode
        env["ACT_CACHE_DIR"] = str(cache)
    train, report = run_pull_request(
        repo, venv=args.venv, work=work, fork=args.fork, env=env
    )
    sys.stdout.write(train.output)
    sys.stdout.write(report.output)
    log.info("train.yml: act exited %d", train.returncode)
    log.info("report.yml: act exited %d", report.returncode)
    # The check's result is train's; a report that could not be posted fails too.
    code = train.returncode or report.returncode
    log.info("act exited %d; cml calls and reports: %s", code, train.record)
    log.info("artifacts: %s", train.artifacts)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
