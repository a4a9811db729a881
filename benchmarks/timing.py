"""Timing commands: wall and CPU time, import time and peak memory of one process,
and the stages a `dvc repro` ran, from its timestamped output."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The line DVC prints as it starts a stage.
STAGE_LINE = re.compile(r"^Running stage '([^']+)':")


@dataclass
class Measured:
    """One command's wall time, import time, peak memory and exit status."""

    wall_s: float
    cpu_s: float = 0.0
    import_s: float | None = None
    top_imports: list[tuple[str, float]] = field(default_factory=list)
    peak_rss_mb: float | None = None
    returncode: int = 0
    tail: str = ""

    @property
    def work_s(self) -> float | None:
        """Wall time not spent importing modules."""
        return None if self.import_s is None else self.wall_s - self.import_s


def import_seconds(stderr: str) -> float:
    """Total time spent importing, from `-X importtime` lines (sum of self times)."""
    total_us = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        first = line.split(":", 1)[1].split("|", 1)[0].strip()
        if first.isdigit():
            total_us += int(first)
    return total_us / 1e6


def top_imports(stderr: str, top: int = 3) -> list[tuple[str, float]]:
    """The outermost imports (eager or lazy) that took longest, with their seconds."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        _, cumulative, name = line.split(":", 1)[1].split("|", 2)
        # One space of indentation marks an import not nested in another one.
        if cumulative.strip().isdigit() and re.match(r" \S", name):
            found.append((name.strip(), int(cumulative) / 1e6))
    return sorted(found, key=lambda item: -item[1])[:top]


def measure(
    cmd: str, cwd: Path, env: dict[str, str], *, importtime: bool = True
) -> Measured:
    """Run shell command `cmd`; time it, sum its imports and read its peak memory."""
    env = dict(env)
    if importtime:
        env["PYTHONPROFILEIMPORTTIME"] = "1"
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, shell=True, cwd=cwd, env=env, stdout=out, stderr=err
        )
        # wait4 reports the peak resident memory of this child (and its children).
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stderr = err.read()
        text = out.read() + stderr
    lines = [ln for ln in text.splitlines() if not ln.startswith("import time:")]
    return Measured(
        wall_s=wall,
        cpu_s=usage.ru_utime + usage.ru_stime,
        import_s=import_seconds(stderr) if importtime else None,
        top_imports=top_imports(stderr) if importtime else [],
        peak_rss_mb=usage.ru_maxrss / 1024,
        returncode=proc.returncode,
        tail="\n".join(lines[-15:]),
    )


def streamed(cmd: list[str], cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run `dvc repro`-like `cmd`, timestamping each line of its output.

    Returns the total wall and CPU time (DVC and the stages it ran), the stages that
    ran with the time from each "Running stage" line to the next (or to the end),
    and DVC's startup time before the first stage.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    marks: list[tuple[str, float]] = []
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line.rstrip())
        match = STAGE_LINE.match(line)
        if match:
            marks.append((match.group(1), time.perf_counter() - start))
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed in {cwd}:\n" + "\n".join(lines))
    ends = [t for _, t in marks][1:] + [wall] if marks else []
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "startup_s": marks[0][1] if marks else wall,
        "ran": [name for name, _ in marks],
        "stages": {name: end - t for (name, t), end in zip(marks, ends, strict=True)},
    }


def best(values: list[float]) -> float:
    """The fastest of repeated runs: on a shared machine, other jobs only add time."""
    return min(values)
