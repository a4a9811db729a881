"""The development loop: a cold `dvc repro`, a no-op one and one after a change."""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any

from clones import Context, git_clone, repo_env, set_params, train_param
from timing import best, streamed

log = logging.getLogger("benchmark")


def run_cold(ctx: Context, repo: Path) -> dict[str, Any]:
    """`dvc repro --force` in fresh clones with empty caches, `ctx.repeats` times."""
    runs = []
    for i in range(ctx.repeats):
        log.info("cold dvc repro, run %d of %d", i + 1, ctx.repeats)
        shutil.rmtree(ctx.work / "dvc-site-cache", ignore_errors=True)
        git_clone(repo)
        runs.append(streamed(["dvc", "repro", "--force"], repo, repo_env(ctx, repo)))
    names = runs[0]["ran"]
    return {
        "command": "dvc repro --force (fresh clone, empty cache)",
        "runs_s": [r["wall_s"] for r in runs],
        "wall_s": best([r["wall_s"] for r in runs]),
        "cpu_s": best([r["cpu_s"] for r in runs]),
        "startup_s": best([r["startup_s"] for r in runs]),
        "ran": names,
        "stages_s": {n: best([r["stages"][n] for r in runs]) for n in names},
    }


def against_cold(runs: list[dict[str, Any]], cold: dict[str, Any]) -> dict[str, Any]:
    """Repeated `streamed` runs: the fastest wall and CPU time, as shares of cold."""
    wall = best([r["wall_s"] for r in runs])
    cpu = best([r["cpu_s"] for r in runs])
    return {
        "runs_s": [r["wall_s"] for r in runs],
        "wall_s": wall,
        "cpu_s": cpu,
        "ratio_to_cold": wall / cold["wall_s"],
        "cpu_ratio_to_cold": cpu / cold["cpu_s"],
        "ran": runs[-1]["ran"],
    }


def run_noop(ctx: Context, repo: Path, cold: dict[str, Any]) -> dict[str, Any]:
    """`dvc repro` with nothing changed."""
    runs = []
    for i in range(ctx.repeats):
        log.info("no-op dvc repro, run %d of %d", i + 1, ctx.repeats)
        runs.append(streamed(["dvc", "repro"], repo, repo_env(ctx, repo)))
    return {"command": "dvc repro (nothing changed)", **against_cold(runs, cold)}


def run_incremental(ctx: Context, repo: Path, cold: dict[str, Any]) -> dict[str, Any]:
    """`dvc repro` after one train parameter changed (a new value every run)."""
    key, value = train_param(repo)
    runs = []
    for i in range(ctx.repeats):
        # A value never used before: DVC's run cache cannot restore the result.
        new = round(value * 0.9 ** (i + 1), 6)
        log.info(
            "incremental dvc repro (%s=%s), run %d of %d", key, new, i + 1, ctx.repeats
        )
        set_params(repo, {key: new})
        runs.append(streamed(["dvc", "repro"], repo, repo_env(ctx, repo)))
    subprocess.run(["git", "checkout", "-q", "params.yaml"], cwd=repo, check=True)
    return {
        "command": f"dvc repro after changing {key}",
        "param": key,
        **against_cold(runs, cold),
        "stages_s": {
            n: best([r["stages"][n] for r in runs if n in r["stages"]])
            for n in runs[-1]["ran"]
        },
    }
