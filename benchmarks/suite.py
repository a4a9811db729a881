"""The test suite's time, per test folder: what every contributor waits for.

`make bench-suite` runs the whole suite once as `make test` does (one worker per
core, a test file per worker), with pytest's JUnit report, and writes what it took
to `benchmarks/suite.json`; `benchmarks/run.py` folds that file into `RESULTS.md`
as its "Test suite" section, and this script rewrites `RESULTS.md` from the last
`results.json` right away.

Per folder it gives the tests, the failures, and the seconds its tests took, each
counted with its own setup and teardown (so a shared fixture counts once, in the
test that built it); the folders' seconds add up to more than the wall time,
because two workers run at once. The slowest file bounds how short the run can be.

    python benchmarks/suite.py -- -n 2         # run the suite, then write
    python benchmarks/suite.py --junit r.xml   # summarise a report already made
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SUITE_JSON = HERE / "suite.json"
#: What `make test` passes to pytest, unless the command line says otherwise.
TEST_FLAGS = ["-n", "auto", "--dist", "loadfile"]

log = logging.getLogger("benchmark")


class SuiteError(Exception):
    """The JUnit report cannot be read, or holds no test."""


def _folder(case: ET.Element) -> tuple[str, str]:
    """(test folder, test file) of a `<testcase>`, from its dotted classname."""
    parts = case.get("classname", "").split(".")
    if len(parts) < 2 or parts[0] != "tests":
        return "tests", "/".join(parts)
    if len(parts) == 2:  # tests/test_x.py
        return "tests", f"tests/{parts[1]}.py"
    return f"tests/{parts[1]}", "/".join(parts[:3]) + ".py"


def summarise(junit: Path, wall_s: float | None = None) -> dict[str, Any]:
    """Per test folder: tests, failures and summed seconds, from a JUnit report."""
    try:
        tree = ET.parse(junit)
    except (OSError, ET.ParseError) as exc:
        raise SuiteError(f"{junit}: cannot read the JUnit report: {exc}") from exc
    folders: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"tests": 0, "failed": 0, "skipped": 0, "seconds": 0.0}
    )
    files: dict[str, float] = defaultdict(float)
    for case in tree.iter("testcase"):
        folder, file = _folder(case)
        seconds = float(case.get("time") or 0.0)
        entry = folders[folder]
        entry["tests"] += 1
        entry["seconds"] += seconds
        entry["failed"] += any(case.find(t) is not None for t in ("failure", "error"))
        entry["skipped"] += case.find("skipped") is not None
        files[file] += seconds
    if not folders:
        raise SuiteError(f"{junit}: the JUnit report holds no test case")
    slowest = max(files, key=files.__getitem__)
    return {
        "wall_s": wall_s,
        "tests": sum(f["tests"] for f in folders.values()),
        "failed": sum(f["failed"] for f in folders.values()),
        "folders": dict(sorted(folders.items())),
        "slowest_file": {"path": slowest, "seconds": files[slowest]},
    }


def run_suite(junit: Path, flags: list[str]) -> tuple[int, float]:
    """Run the whole suite with a JUnit report; its exit code and wall seconds."""
    started = time.perf_counter()
    cmd = [sys.executable, "-m", "pytest", "-q", *flags, f"--junitxml={junit}"]
    code = subprocess.call(cmd, cwd=ROOT)
    return code, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    """Entry point: run (or read) the suite, write suite.json and RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--junit", type=Path, help="summarise this report; no run")
    parser.add_argument("--out", type=Path, default=SUITE_JSON)
    parser.add_argument(
        "flags", nargs="*", help="pytest's flags after --, as `make test` gives them"
    )
    args = parser.parse_args(argv)
    flags = args.flags or TEST_FLAGS
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    code, wall = 0, None
    junit = args.junit
    if junit is None:
        junit = HERE / ".work" / "suite.xml"
        junit.parent.mkdir(parents=True, exist_ok=True)
        code, wall = run_suite(junit, flags)
    try:
        summary = summarise(junit, wall)
    except SuiteError as exc:
        log.error("%s", exc)
        return 2
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    summary.update(
        commit=commit, cores=os.cpu_count(), pytest_flags=" ".join(flags), exit=code
    )
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    log.info("wrote %s", args.out)
    results = HERE / "results.json"
    if args.out == SUITE_JSON and results.is_file():
        import report  # the sibling module; benchmarks/ is this script's folder

        data = json.loads(results.read_text())
        data["suite"] = summary
        results.write_text(json.dumps(data, indent=2) + "\n")
        (HERE / "RESULTS.md").write_text(report.markdown(data))
        log.info("rewrote %s with the suite's figures", HERE / "RESULTS.md")
    # A failing suite is still measured, and still a failure.
    return 1 if code or summary["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
