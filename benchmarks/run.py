"""Benchmark the pipeline: what it costs, how it scales and where the time goes.

Everything runs in scratch clones of this repository's committed state (under
`benchmarks/.work/`, or `--work`), on one machine, in one run:

1. cold: `dvc repro --force` in a fresh clone with an empty DVC cache, timed per stage
   from DVC's own "Running stage" lines;
2. no-op: `dvc repro` again with nothing changed;
3. incremental: `dvc repro` after changing one train parameter;
   then the pull-request report and gate (`review.py`) on that changed workspace;
4. floor: the level-0 script (`levels/0-manual/train_churn.py`) training the same
   model in one process; and every stage's command called in one process without
   DVC (the pipeline's own work, each library imported once);
5. prediction (`serving.py`): one-row latency and batch throughput of the trained
   model in process and of `churn serve` over HTTP, next to `mlflow models serve`
   serving the same model when MLflow is installed (the `bench` extra, which
   `make install` installs);
6. scale: every stage's command run directly at each size (the bundled data and
   synthetic scale-ups from `scale.py`), with wall time, time spent importing
   (`PYTHONPROFILEIMPORTTIME`) and peak memory (`wait4`) per stage;
7. validation (`validation.py`): at each size, the project's reading and checking of
   the batch next to bare Great Expectations running the same expectations on the
   same table, in one process;
8. profile: cProfile of the stage with the most work at the largest size up to
   `--profile-rows` (100,000 by default, which keeps the run near ten minutes);
9. pull request under act (`actpr.py`, not in `--tiny`): `train.yml` on a neutral
   pull request, per step, its virtualenv restored from the cache an earlier run
   saved.

The stages and their commands come from `dvc repro --dry`, so new stages are measured
without changing this script. Results go to `results.json` and `RESULTS.md`.

This file is the command line and the order of the sections; each lives beside it:
`loop.py` (1-3), `review.py` (3), `floor.py` (4), `serving.py` (5), `scaling.py` (6, 8),
`validation.py` (7), `actpr.py` (9), on top of
`timing.py` (timing one command) and `clones.py` (the scratch clone); `targets.py`
judges the figures and `report.py` renders them.

    python benchmarks/run.py           # the committed configuration (several minutes)
    python benchmarks/run.py --tiny    # small sizes, one repetition
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import report
from actpr import run_actpr
from clones import ROOT, VENV, Context, plan, repo_env
from floor import run_floor, run_one_process
from loop import run_cold, run_incremental, run_noop
from review import run_review
from scaling import run_profile, run_size, size_rows
from suite import SUITE_JSON
from targets import growth, targets
from validation import run_validation

log = logging.getLogger("benchmark")

HERE = Path(__file__).resolve().parent
SERVING = Path("benchmarks/serving.py")
PACKAGES = (
    "dvc",
    "great-expectations",
    "pandas",
    "numpy",
    "pyarrow",
    "scikit-learn",
    "skops",
)
DEFAULT_SIZES = ("bundled", "100000", "1000000")
TINY_SIZES = ("2000", "bundled")


def run_prediction(ctx: Context, repo: Path) -> dict[str, Any]:
    """Prediction latency and throughput, in process and over HTTP, next to MLflow."""
    log.info("prediction: in process, churn serve and mlflow models serve")
    cmd = [
        sys.executable,
        str(repo / SERVING),
        "--single",
        str(ctx.single_rows),
        "--batch",
        str(ctx.batch_rows),
        "--batch-repeats",
        str(ctx.batch_repeats),
        "--monitor-rows",
        str(ctx.monitor_rows),
        "--health-probes",
        str(ctx.health_probes),
    ]
    proc = subprocess.run(
        cmd, cwd=repo, env=repo_env(ctx, repo), capture_output=True, text=True
    )
    if not proc.stdout.strip():
        raise RuntimeError(f"{SERVING} failed:\n{proc.stderr[-5000:]}")
    result = json.loads(proc.stdout)
    if proc.returncode != 0:
        log.warning("the served probabilities differ: %s", result["max_abs_difference"])
    return result


def machine() -> dict[str, Any]:
    """The machine and the software versions the figures come from."""
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_gb = None
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024**2, 1)
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "memory_gb": mem_gb,
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
        "load_average": list(os.getloadavg()),
    }


def benchmark(ctx: Context) -> dict[str, Any]:
    """Run every section; return the results as one JSON-ready dict."""
    started = time.perf_counter()
    ctx.work.mkdir(parents=True, exist_ok=True)
    repo = ctx.work / "repo"
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    results: dict[str, Any] = {
        "config": {
            "sizes": ctx.sizes,
            "repeats": ctx.repeats,
            "seed": ctx.seed,
            "commit": commit,
        },
        "machine": machine(),
    }
    results["cold"] = run_cold(ctx, repo)
    stages = plan(repo, repo_env(ctx, repo))
    results["stages"] = [asdict(s) for s in stages]
    results["prediction"] = run_prediction(ctx, repo)
    results["noop"] = run_noop(ctx, repo, results["cold"])
    results["incremental"] = run_incremental(ctx, repo, results["cold"])
    results["review"] = run_review(ctx, repo)
    results["one_process"] = run_one_process(ctx, repo, stages)
    results["floor"] = run_floor(ctx, repo, results["one_process"])
    ordered = sorted(ctx.sizes, key=lambda size: size_rows(repo, size))
    profiled = max(
        (
            n
            for n in map(lambda size: size_rows(repo, size), ordered)
            if n <= ctx.profile_rows
        ),
        default=None,
    )
    results["scale"] = []
    for size in ordered:
        results["scale"].append(run_size(ctx, repo, stages, size))
        results["scale"][-1]["validation"] = run_validation(
            ctx, repo, Path(results["scale"][-1]["source"])
        )
        if results["scale"][-1]["rows"] == profiled:
            # Right away, while this size's batch and outputs are in place.
            results["profile"] = run_profile(ctx, repo, stages, results["scale"][-1])
    results["growth"] = growth(results["scale"])
    if ctx.act_pr:
        results["actpr"] = run_actpr(ctx.work / "actpr", VENV)
    if SUITE_JSON.is_file():  # measured apart, by `make bench-suite`
        results["suite"] = json.loads(SUITE_JSON.read_text())
    results["targets"] = targets(results)
    results["machine"]["load_average_end"] = list(os.getloadavg())
    results["config"]["benchmark_s"] = time.perf_counter() - started
    return results


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the benchmark, print the table, write JSON and Markdown."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--sizes", nargs="+", help="'bundled' and/or row counts")
    parser.add_argument("--repeats", type=int, help="repetitions of the 7k runs")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--profile-rows",
        type=int,
        default=100_000,
        help="profile the slowest stage at the largest size up to this many rows "
        "(0: no profile)",
    )
    parser.add_argument("--note", help="a sentence about the machine for RESULTS.md")
    parser.add_argument("--out", type=Path, default=HERE, help="where results go")
    parser.add_argument("--work", type=Path, help="scratch folder (default: OUT/.work)")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="only rewrite RESULTS.md (in OUT) and the table from a results.json",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.render:
        results = json.loads(args.render.read_text())
        write_report(results, args.out)
        return 0
    sizes = args.sizes or list(TINY_SIZES if args.tiny else DEFAULT_SIZES)
    bad = [s for s in sizes if s != "bundled" and not s.isdigit()]
    if bad:
        parser.error(f"--sizes takes 'bundled' or row counts, not {bad}")
    ctx = Context(
        work=(args.work or args.out / ".work").resolve(),
        repeats=args.repeats or (1 if args.tiny else 2),
        seed=args.seed,
        sizes=sizes,
        profile_rows=args.profile_rows,
        single_rows=50 if args.tiny else 300,
        batch_rows=200 if args.tiny else 1000,
        batch_repeats=5 if args.tiny else 50,
        monitor_rows=20_000 if args.tiny else 1_000_000,
        health_probes=10 if args.tiny else 200,
        act_pr=not args.tiny,
    )
    results = benchmark(ctx)
    results["config"]["mode"] = "tiny" if args.tiny else "default"
    results["config"]["note"] = args.note
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    write_report(results, args.out)
    return 0


def write_report(results: dict[str, Any], out: Path) -> None:
    """Print the table and write RESULTS.md into `out`."""
    (out / "RESULTS.md").write_text(report.markdown(results))
    sys.stdout.write(report.table(results) + "\n")
    log.info("wrote %s", out / "RESULTS.md")


if __name__ == "__main__":
    raise SystemExit(main())
