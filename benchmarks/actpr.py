"""A neutral pull request under act: `.github/workflows/train.yml` run the way
`tests/workflows/actrun.py` runs it, timed step by step from act's own log.

The pull request changes a line of README.md, which nothing the pipeline reads. Each
run starts with no virtualenv, as a fresh runner does, at a path that stays the same
from run to run (`WORK/job-venv`, as a runner's workspace does). The first run finds
no cached virtualenv: its `make install` builds one from the lock with a warm pip
(every file of the lock fetched once from the index into `WORK/wheels`, pip's cache
in `WORK/pip-cache` for the wheels it builds; the job's pip reads only those,
`PIP_FIND_LINKS` and `PIP_NO_INDEX`, since an index that sends no caching headers
leaves pip's HTTP cache empty), and the job saves it in the cache stand-in's folder
`WORK/act-cache`. The second run, the one measured, restores it there, as a pull
request restores the virtualenv main's run saved. The files pip downloaded, found on
disk or took from its cache are counted from each run's output. Every step's time is
the one act prints when the step ends; the total is the wall time of the act run.
The DVC cache stays cold (nothing saves one under train's key), so `dvc repro` runs
every stage. A run that fails, or a log without a step the job always runs, stops the
measurement with an error instead of giving a figure.

    python benchmarks/actpr.py --work benchmarks/.work/actpr   # about five minutes
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "workflows"))
import actrun  # noqa: E402

log = logging.getLogger("benchmark")

WORKFLOW = Path(".github/workflows/train.yml")
JOB = "train"
#: The file the neutral pull request edits.
NEUTRAL_FILE = "README.md"
#: The act run of a neutral pull request the target is measured against, per step
#: (by the `make` target the step runs) and in all.
BEFORE = {"install": 73.0, "repro": 31.0, "report": 11.0, "gate": 4.0}
BEFORE_TOTAL_S = 132.0

#: The line act prints when a step of a job ends, with the step's duration.
#: Steps of a composite action end with a line of their own, without a duration.
STEP_END = re.compile(
    r"^\[(?P<job>[^\]]+?) *\]\s+\S+\s+(?P<result>Success|Failure) - "
    r"(?P<stage>Pre|Main|Post) (?P<step>.+?)(?: \[(?P<took>[0-9.a-zµ]+)\])?$"
)
#: The line act prints when the whole job succeeded.
JOB_END = re.compile(r"^\[(?P<job>[^\]]+?) *\]\s+\S+\s+Job succeeded$")
#: One term of a Go duration (`1m13.2s`, `950.1ms`, `12µs`).
_TERM = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|µs|us|ns)")
_UNIT_S = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}
#: The start of a line a step printed: under forced colour act leaves out the
#: job's name.
_OUTPUT = r"^(?:\[[^\]]+\]\s+)?\|\s+"
#: How pip says where each file of an install comes from.
PIP_SOURCES = {
    "downloaded": re.compile(_OUTPUT + "Downloading "),
    "local": re.compile(_OUTPUT + "Processing /"),
    "cached": re.compile(_OUTPUT + "Using cached "),
}
#: The locks `make install` installs from.
LOCKS = ("requirements/pip.txt", "requirements/dev.txt")
#: What the cache stand-ins print when they restore the virtualenv's key exactly.
VENV_HIT = re.compile(_OUTPUT + r"cache restored from \S*/venv-\S+ \(exact key: true\)")
#: The `make` target a step runs, if it runs one.
_MAKE = re.compile(r"^\s*make (\w[\w-]*)", re.M)


class ActLogError(RuntimeError):
    """The act run failed, or its log does not say what each step took."""


def go_seconds(text: str) -> float:
    """Seconds in a duration as Go prints it (`1m2.5s`, `3.1ms`, `0s`)."""
    terms = _TERM.findall(text)
    if not terms or "".join(n + u for n, u in terms) != text:
        raise ActLogError(f"not a duration: {text!r}")
    return sum(float(n) * _UNIT_S[u] for n, u in terms)


def job_steps(workflow: Path, job: str = JOB) -> list[dict[str, Any]]:
    """The job's steps: the name act logs for each, the `make` target it runs (or
    None), and whether it has no `if:` (so that a job that succeeded ran it)."""
    data = yaml.safe_load(workflow.read_text())
    out = []
    for step in data["jobs"][job]["steps"]:
        make = _MAKE.search(step.get("run", ""))
        out.append(
            {
                "name": step.get("name") or step["uses"],
                "make": make.group(1) if make else None,
                "unconditional": "if" not in step,
            }
        )
    return out


def step_times(output: str, steps: list[dict[str, Any]], job: str) -> dict[str, float]:
    """Seconds of each `Main` step of `job` in act's log, in the order they ran.

    A step that failed, a step without `if:` that is not in the log (the job
    stopped before it) or a job that did not succeed is an error: no figure.
    """
    times: dict[str, float] = {}
    succeeded = False
    for line in output.splitlines():
        end = STEP_END.match(line.rstrip())
        if end and end["job"].endswith(f"/{job}"):
            if end["result"] != "Success":
                raise ActLogError(f"step {end['step']!r} of {job} failed")
            if end["stage"] == "Main" and end["took"]:
                times[end["step"]] = go_seconds(end["took"])
            continue
        done = JOB_END.match(line.rstrip())
        succeeded = succeeded or bool(done and done["job"].endswith(f"/{job}"))
    missing = [
        s["name"] for s in steps if s["unconditional"] and s["name"] not in times
    ]
    if missing:
        raise ActLogError(f"no time in act's log for the steps {missing} of {job}")
    if not succeeded:
        raise ActLogError(f"act's log does not say that job {job} succeeded")
    return times


def pip_sources(output: str) -> dict[str, int]:
    """How many files pip downloaded, found on disk or took from its cache."""
    lines = output.splitlines()
    return {
        name: sum(1 for line in lines if pattern.match(line))
        for name, pattern in PIP_SOURCES.items()
    }


def fill_wheelhouse(repo: Path, wheels: Path, python: Path) -> None:
    """Every file of `repo`'s lock in `wheels`, checked against the lock's hashes;
    files already there are not fetched again."""
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [str(python), "-m", "pip", "download", "--quiet", "--no-deps"]
    cmd += ["--require-hashes", "--dest", str(wheels)]
    for lock in LOCKS:
        cmd += ["-r", lock]
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ActLogError(f"pip download of the lock failed:\n{proc.stderr[-3000:]}")


def neutral_clone(dest: Path, source: Path = ROOT) -> Path:
    """A clone whose `pr` branch adds one line to README.md and changes nothing
    else: a pull request that nothing the pipeline reads sees."""
    shutil.rmtree(dest, ignore_errors=True)
    text = (source / NEUTRAL_FILE).read_text()
    return actrun.pull_request_clone(
        dest,
        [],
        source=source,
        files={NEUTRAL_FILE: text + "\nA line that nothing the pipeline reads.\n"},
    )


def pip_env(pip_cache: Path, wheels: Path) -> dict[str, str]:
    """The job's environment for a warm pip: its cache, and every file of the lock
    on disk. No index: given an index, pip prefers its copy of a file whose hash
    the index states over the same file on disk, and fetches it again."""
    return {
        "PIP_CACHE_DIR": str(pip_cache),
        "PIP_FIND_LINKS": str(wheels),
        "PIP_NO_INDEX": "1",
    }


def timed_run(repo: Path, *, venv: Path, work: Path, job_env: dict[str, str]) -> dict:
    """One act run of the train workflow on `repo`'s pull request, with `job_env`
    (the job's own virtualenv, the cache's folder and pip's settings)."""
    steps = job_steps(repo / WORKFLOW)
    start = time.perf_counter()
    run = actrun.run_act(repo, venv=venv, work=work, env=job_env)
    wall = time.perf_counter() - start
    if run.returncode != 0:
        tail = "\n".join(run.output.splitlines()[-40:])
        raise ActLogError(f"act exited {run.returncode}:\n{tail}")
    times = step_times(run.output, steps, JOB)
    make = {s["name"]: s["make"] for s in steps}
    return {
        "wall_s": wall,
        "pip": pip_sources(run.output),
        "venv_restored": any(VENV_HIT.match(line) for line in run.output.splitlines()),
        "steps": [
            {"step": name, "make": make.get(name), "wall_s": took}
            for name, took in times.items()
        ],
    }


def run_actpr(work: Path, venv: Path, source: Path = ROOT) -> dict[str, Any]:
    """The neutral pull request under act twice: the first builds the job's
    virtualenv and caches it, the second restores it; the second run's steps and
    total, next to the run of `BEFORE`."""
    work.mkdir(parents=True, exist_ok=True)
    repo = neutral_clone(work / "repo", source)
    log.info("neutral pull request under act: the lock's files into %s", work)
    fill_wheelhouse(repo, work / "wheels", venv / "bin" / "python")
    job_venv, cache = work / "job-venv", work / "act-cache"
    job_env = {
        "VENV": str(job_venv),
        "ACT_CACHE_DIR": str(cache),
        **pip_env(work / "pip-cache", work / "wheels"),
    }
    shutil.rmtree(cache, ignore_errors=True)
    results = {}
    for name in ("warm_up", "measured"):
        log.info("neutral pull request under act: %s run", name.replace("_", "-"))
        for gone in (work / name, job_venv):
            shutil.rmtree(gone, ignore_errors=True)
        results[name] = timed_run(repo, venv=venv, work=work / name, job_env=job_env)
    if results["warm_up"]["venv_restored"] or not results["measured"]["venv_restored"]:
        raise ActLogError(
            "the virtualenv's cache did not miss, then hit: "
            f"restored in the first run {results['warm_up']['venv_restored']}, "
            f"in the second {results['measured']['venv_restored']}"
        )
    measured = results["measured"]
    return {
        "workflow": WORKFLOW.as_posix(),
        "changed": NEUTRAL_FILE,
        "wall_s": measured["wall_s"],
        "steps": measured["steps"],
        "pip": measured["pip"],
        "warm_up_s": results["warm_up"]["wall_s"],
        "warm_up_pip": results["warm_up"]["pip"],
        "before": {"steps": BEFORE, "wall_s": BEFORE_TOTAL_S},
        "ratio_to_before": measured["wall_s"] / BEFORE_TOTAL_S,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: measure, print the figures as JSON, and write them to --out."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--work", type=Path, default=ROOT / "benchmarks" / ".work" / "actpr"
    )
    parser.add_argument("--venv", type=Path, default=Path(sys.prefix))
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        figures = run_actpr(args.work.resolve(), args.venv)
    except ActLogError as err:
        log.error("no figure: %s", err)
        return 1
    text = json.dumps(figures, indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
