"""The pull-request report's own steps: `churn report` and `churn gate` against the
committed state, timed one after the other as `train.yml` runs them.

It runs right after the incremental runs, whose last one retrained with another
train parameter, so the workspace differs from `HEAD` as a one-param pull request
does. The gate reads the report's verdict (`--verdict report.json`), so the two
steps gather the evidence and run the paired bootstrap once between them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from clones import Context, repo_env
from timing import best, measure

log = logging.getLogger("benchmark")

STEPS = {
    "report": "python -m churn report --base HEAD --out report.md",
    "gate": "python -m churn gate --base HEAD --verdict report.json",
}


def run_review(ctx: Context, repo: Path) -> dict[str, Any]:
    """Wall, CPU and import time of each step, the fastest of `ctx.repeats` runs."""
    steps: dict[str, Any] = {}
    for name, cmd in STEPS.items():
        runs = []
        for i in range(ctx.repeats):
            log.info("pull-request %s, run %d of %d", name, i + 1, ctx.repeats)
            runs.append(measure(cmd, repo, repo_env(ctx, repo)))
        # The gate may fail (exit 1) on a worse model; only "cannot judge" (2) or
        # a crash means the step did not do its work.
        if (name == "report" and runs[-1].returncode != 0) or runs[-1].returncode > 1:
            raise RuntimeError(f"churn {name} failed:\n{runs[-1].tail}")
        steps[name] = {
            "command": cmd,
            "exit": runs[-1].returncode,
            "wall_s": best([r.wall_s for r in runs]),
            "cpu_s": best([r.cpu_s for r in runs]),
            "import_s": best([r.import_s or 0.0 for r in runs]),
        }
    return {"steps": steps, "wall_s": sum(s["wall_s"] for s in steps.values())}
