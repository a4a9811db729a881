"""The scratch clone the benchmark works in: its environment, stages and params.

The environment and the params.yaml edits are the ones the tests use on their
clones (`tests/scratch.py`, put on the import path here): one implementation for
both, kept with the tests, which own the other clone helpers.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml
from timing import STAGE_LINE

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
# The sections edit the clone's params.yaml through this module.
from scratch import set_params as set_params  # noqa: E402
from scratch import tool_env  # noqa: E402

#: The benchmark's own interpreter: its virtualenv runs every command in a clone.
VENV = Path(sys.prefix)


@dataclass
class Stage:
    """One pipeline stage as `dvc repro --dry` lists it."""

    name: str
    cmds: list[str]


@dataclass
class Context:
    """Where and how the benchmark runs."""

    work: Path
    repeats: int
    seed: int
    sizes: list[str]
    profile_rows: int
    single_rows: int
    batch_rows: int = 1000
    batch_repeats: int = 50
    #: Customers in the prediction log `churn monitor` reads.
    monitor_rows: int = 1_000_000
    #: GET /health requests per burst of bad bodies: enough that the p99 is not
    #: simply the slowest one.
    health_probes: int = 200
    #: Time a neutral pull request under act (`actpr.py`, a few minutes).
    act_pr: bool = False


def repo_env(ctx: Context, repo: Path) -> dict[str, str]:
    """Environment for commands in clone `repo`: this interpreter's tools first on
    PATH, the clone's sources on the import path."""
    env = tool_env(VENV, repo)
    # DVC keeps per-repository indexes outside the repository; a private folder
    # keeps them from surviving between cold runs.
    env["DVC_SITE_CACHE_DIR"] = str(ctx.work / "dvc-site-cache")
    env["DVC_NO_ANALYTICS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def git_clone(dest: Path) -> Path:
    """A fresh clone of this repository's committed state at `dest`."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(dest)], check=True)
    return dest


def plan(repo: Path, env: dict[str, str]) -> list[Stage]:
    """The pipeline's stages in run order, with their commands, from DVC itself."""
    proc = subprocess.run(
        ["dvc", "repro", "--dry", "--force"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    stages: list[Stage] = []
    for line in proc.stdout.splitlines():
        match = STAGE_LINE.match(line)
        if match:
            stages.append(Stage(match.group(1), []))
        elif line.startswith("> ") and stages:
            stages[-1].cmds.append(line[2:])
    if not stages:
        raise RuntimeError(f"`dvc repro --dry` listed no stages:\n{proc.stdout}")
    return stages


def git_outputs(repo: Path) -> list[str]:
    """Outputs that `dvc.yaml` keeps in git (`cache: false`), not in DVC's cache."""
    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())
    paths = []
    for stage in (pipeline.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if isinstance(out, dict):
                for path, opts in out.items():
                    if (opts or {}).get("cache") is False:
                        paths.append(path)
    return paths


def cached_outputs(repo: Path) -> list[str]:
    """Outputs that `dvc.yaml` keeps in DVC's cache although their stage commits
    its others to git (per-row predictions, which grow with the data)."""
    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())
    paths = []
    for stage in (pipeline.get("stages") or {}).values():
        outs = {}
        for out in stage.get("outs") or []:
            outs.update(out if isinstance(out, dict) else {out: {}})
        cached = {p: (o or {}).get("cache", True) is not False for p, o in outs.items()}
        if not all(cached.values()):
            paths += [path for path, kept in cached.items() if kept]
    return paths


def train_param(repo: Path) -> tuple[str, float]:
    """The first real-valued hyperparameter of the configured estimator."""
    train = yaml.safe_load((repo / "params.yaml").read_text())["train"]
    name = train["estimator"]
    for key, value in (train.get(name) or {}).items():
        if isinstance(value, float):
            return f"train.{name}.{key}", value
    raise RuntimeError(f"params.yaml: train.{name} has no real-valued parameter")
