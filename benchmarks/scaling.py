"""Scale: every stage's command run directly at each size, and a profile of the
stage with the most work. `scale.py` builds the synthetic batches."""

from __future__ import annotations

import logging
import pstats
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import scale
import yaml
from clones import Context, Stage, cached_outputs, git_outputs, repo_env, set_params
from timing import Measured, measure

log = logging.getLogger("benchmark")

BUNDLED = Path("data/external/telco_churn.csv")


def size_rows(repo: Path, size: str) -> int:
    """The number of rows of `size`: 'bundled' (the CSV in the clone) or a count."""
    if size != "bundled":
        return int(size)
    with (repo / BUNDLED).open(encoding="utf-8") as fh:
        return sum(1 for _ in fh) - 1


def batch_source(ctx: Context, repo: Path, size: str) -> tuple[Path, int]:
    """The CSV for `size` ('bundled' or a row count) and its row count."""
    bundled = repo / BUNDLED
    rows = size_rows(repo, size)
    if size == "bundled":
        return bundled, rows
    path = ctx.work / "data" / f"churn_{rows}_seed{ctx.seed}.csv"
    log.info("writing %d synthetic rows to %s", rows, path)
    scale.make_batch(rows, path, seed=ctx.seed, source=bundled)
    return path, rows


def stage_entry(parts: list[Measured]) -> dict[str, Any]:
    """One stage's figures from the runs of its commands."""
    return {
        "wall_s": sum(p.wall_s for p in parts),
        "cpu_s": sum(p.cpu_s for p in parts),
        "import_s": sum(p.import_s or 0.0 for p in parts),
        "work_s": sum(p.work_s or 0.0 for p in parts),
        "top_imports": [item for p in parts for item in p.top_imports],
        "peak_rss_mb": max(p.peak_rss_mb or 0.0 for p in parts),
    }


def run_size(
    ctx: Context, repo: Path, stages: list[Stage], size: str
) -> dict[str, Any]:
    """Every stage's command, run directly on the batch of `size`."""
    source, rows = batch_source(ctx, repo, size)
    subprocess.run(["git", "checkout", "-q", "params.yaml"], cwd=repo, check=True)
    # The scaled batch is the upstream file, cut into as many months as keep each
    # at the contract's row floor (at most the configured number), all included.
    params = yaml.safe_load((repo / "params.yaml").read_text())["batches"]
    months = max(2, min(params["months"], rows // scale.contract.MIN_ROWS))
    values: dict[str, Any] = {
        "batches.source": str(source),
        "batches.months": months,
        "batches.through_month": months,
    }
    if size != "bundled":
        # The simulated shifts (fibre prices +25 %) would push jittered charges
        # past the contract's bounds, and the scaled runs measure cost, not drift.
        for shift in params.get("shifts") or {}:
            values[f"batches.shifts.{shift}"] = None
    set_params(repo, values)
    env = repo_env(ctx, repo)
    result: dict[str, Any] = {
        "size": size,
        "rows": rows,
        "source": str(source),
        "stages": {},
    }
    # The bundled data splits the cold run, so it gets the same repetitions.
    repeats = ctx.repeats if size == "bundled" else 1
    for stage in stages:
        entries = []
        for i in range(repeats):
            log.info("%d rows: stage %s (%d of %d)", rows, stage.name, i + 1, repeats)
            parts = [measure(cmd, repo, env) for cmd in stage.cmds]
            failed = [p for p in parts if p.returncode != 0]
            if failed:
                raise RuntimeError(
                    f"{rows} rows: stage {stage.name} failed:\n{failed[0].tail}"
                )
            entries.append(stage_entry(parts))
        result["stages"][stage.name] = min(entries, key=lambda e: e["wall_s"])
    # Files kept in git grow with the data too; a large one makes every clone slower.
    result["git_outputs_kb"] = {
        path: (repo / path).stat().st_size / 1024
        for path in git_outputs(repo)
        if (repo / path).is_file()
    }
    # ...and those that grow but live in the DVC cache, which clones do not fetch.
    result["cached_outputs_kb"] = {
        path: (repo / path).stat().st_size / 1024
        for path in cached_outputs(repo)
        if (repo / path).is_file()
    }
    done = result["stages"].values()
    result["wall_s"] = sum(s["wall_s"] for s in done)
    result["cpu_s"] = sum(s["cpu_s"] for s in done)
    result["peak_rss_mb"] = max(s["peak_rss_mb"] for s in done)
    # A failed stage raised above, so the scaled batch passed ingest and validate.
    result["validated"] = "validate" in result["stages"]
    if result["validated"]:
        result["validation_rows_per_s"] = rows / result["stages"]["validate"]["work_s"]
    return result


def run_profile(
    ctx: Context, repo: Path, stages: list[Stage], size: dict[str, Any]
) -> dict[str, Any]:
    """cProfile of the slowest one-command stage at `size`: where its time goes.

    A stage of several commands (validate cuts the months, then validates twice) is
    measured above but not profiled: one profile per process would split its story.
    """
    single = {
        s.name: m
        for s in stages
        if len(s.cmds) == 1 and (m := re.fullmatch(r"python (-m \S+.*)", s.cmds[0]))
    }
    if not single:
        return {"skipped": "no stage runs a single `python -m` command"}
    slowest = max(single, key=lambda n: size["stages"][n]["work_s"])
    match = single[slowest]
    # run_size left this size's batch in params.yaml and its outputs in place.
    env = repo_env(ctx, repo)
    out = ctx.work / f"profile-{slowest}.prof"
    log.info("%d rows: profiling stage %s", size["rows"], slowest)
    run = measure(
        f"python -m cProfile -o {shlex.quote(str(out))} {match.group(1)}",
        repo,
        env,
        importtime=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"profiling {slowest} failed:\n{run.tail}")
    return {"stage": slowest, "rows": size["rows"], **profile_summary(out)}


#: Import machinery; imports are measured separately, so the cumulative list skips it.
IMPORT_FRAMES = (
    "<built-in method builtins.__import__>",
    "<built-in method _imp.exec_dynamic>",
)


def _where(key: tuple[str, int, str]) -> str:
    file, line, func = key
    for marker in ("site-packages/", "/src/", "/lib/python"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{func} ({file}:{line})" if line else func


def profile_summary(path: Path, top: int = 12) -> dict[str, Any]:
    """The functions with the most cumulative and the most own time in a profile."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    total = max(ct for _, _, _, ct, _ in stats.values())
    wrappers = (
        "<built-in method builtins.exec>",
        "run_module",
        "_run_code",
        "<module>",
    )

    def rows(index: int) -> list[dict[str, Any]]:
        ordered = sorted(stats.items(), key=lambda kv: -kv[1][index])
        picked = [
            {
                "function": _where(key),
                "calls": value[1],
                "own_s": value[2],
                "cumulative_s": value[3],
                "share": value[index] / total,
            }
            for key, value in ordered
            if not any(w in key[2] for w in wrappers)
            and not (index == 3 and key[0].startswith("<frozen"))
            and not (index == 3 and key[2] in IMPORT_FRAMES)
        ]
        return picked[:top]

    return {"profiled_s": total, "cumulative": rows(3), "own": rows(2)}
