"""Validation side by side: the project's check of a batch next to bare Great
Expectations running the same expectations on the same table, in one process.

The project's check is `churn.data.ingest.read_batch` (the strict reader, run once)
and `churn.data.validate.check_table`; bare GX is an ephemeral context with a pandas
data frame asset and the suite that `churn.data.expectations.build()` writes, asked
for the same result format. The two checks alternate, and each keeps its fastest
round, so that a busy neighbour slows both alike.

    python benchmarks/validation.py --source BATCH.csv [--rounds 2]

prints one JSON object; `run.py` calls it for each size it scales to.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from clones import Context, repo_env

log = logging.getLogger("benchmark")

HERE = Path(__file__).resolve().parent


def bare_suite(context: Any) -> Any:
    """The project's expectations as a plain GX suite in `context`."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    from churn.data import expectations, gx_rules  # noqa: F401  (custom rule)

    suite = gx.ExpectationSuite(
        name="bare",
        expectations=[
            ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"]).to_domain_obj()
            for e in expectations.build()
        ],
    )
    return context.suites.add(suite)


def side_by_side(source: Path, rounds: int) -> dict[str, Any]:
    """Read `source` once, then time both checks `rounds` times each, alternating."""
    import great_expectations as gx

    from churn.data import expectations, ingest, validate

    started = time.perf_counter()
    table = ingest.read_batch(source)
    read_s = time.perf_counter() - started
    context = gx.get_context(mode="ephemeral")
    suite = bare_suite(context)
    batch = (
        context.data_sources.add_pandas("bare")
        .add_dataframe_asset("table")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": table})
    )
    ours, bare = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        summary = validate.check_table(table)
        ours.append(time.perf_counter() - started)
        started = time.perf_counter()
        result = batch.validate(suite, result_format=expectations.RESULT_FORMAT)
        bare.append(time.perf_counter() - started)
    if not (summary["success"] and result.success):
        raise RuntimeError(f"{source} fails validation; the benchmark needs a good one")
    return {
        "rows": len(table),
        "expectations": len(suite.expectations),
        "read_s": read_s,
        "check_s": min(ours),
        "bare_gx_s": min(bare),
        "check_ratio": min(ours) / min(bare),
        "read_and_check_ratio": (read_s + min(ours)) / min(bare),
    }


def run_validation(ctx: Context, repo: Path, source: Path) -> dict[str, Any]:
    """`side_by_side` on `source`, in a fresh process of clone `repo`."""
    log.info("validation of %s: the project's check next to bare GX", source.name)
    cmd = [sys.executable, str(HERE / "validation.py"), "--source", str(source)]
    proc = subprocess.run(
        cmd, cwd=repo, env=repo_env(ctx, repo), capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"validation side by side failed:\n{proc.stderr[-5000:]}")
    return json.loads(proc.stdout)


def main(argv: list[str] | None = None) -> int:
    """Entry point: print the side-by-side figures for one batch as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sys.stdout.write(json.dumps(side_by_side(args.source, args.rounds)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
