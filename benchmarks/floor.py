"""The same work without DVC: every stage's command in one process, and the floor
(the level-0 script training the same model)."""

from __future__ import annotations

import logging
import re
import shlex
from pathlib import Path
from typing import Any

from clones import Context, Stage, repo_env
from timing import best, measure

log = logging.getLogger("benchmark")

LEVEL0 = Path("levels/0-manual/train_churn.py")


#: Every stage's `python -m <module> <args>` command, called as `main(args)` in turn.
ONE_PROCESS = """
import importlib, shlex, sys
for cmd in sys.argv[1:]:
    _, flag, module, *args = shlex.split(cmd)
    if flag != "-m":
        raise SystemExit(f"not a python -m command: {cmd}")
    code = importlib.import_module(module).main(args)
    if code:
        raise SystemExit(f"{cmd} exited {code}")
"""


def _repeated(ctx: Context, repo: Path, cmd: str, what: str) -> dict[str, Any]:
    runs = []
    for i in range(ctx.repeats):
        log.info("%s, run %d of %d", what, i + 1, ctx.repeats)
        runs.append(measure(cmd, repo, repo_env(ctx, repo)))
        if runs[-1].returncode != 0:
            raise RuntimeError(f"{what} failed:\n{runs[-1].tail}")
    return {
        "runs_s": [r.wall_s for r in runs],
        "wall_s": best([r.wall_s for r in runs]),
        "cpu_s": best([r.cpu_s for r in runs]),
        "import_s": best([r.import_s or 0.0 for r in runs]),
        "peak_rss_mb": max(r.peak_rss_mb or 0.0 for r in runs),
    }


def run_one_process(ctx: Context, repo: Path, stages: list[Stage]) -> dict[str, Any]:
    """Every stage's command in one Python process, without DVC: the same work,
    with each library imported once. Needs every command to be `python -m ...`."""
    cmds = [cmd for stage in stages for cmd in stage.cmds]
    if not all(re.match(r"python -m \S+", cmd) for cmd in cmds):
        return {"skipped": "not every stage command is `python -m <module> ...`"}
    joined = " ".join(shlex.quote(cmd) for cmd in cmds)
    cmd = f"python -c {shlex.quote(ONE_PROCESS)} {joined}"
    result = _repeated(ctx, repo, cmd, "every stage command in one process")
    return {"command": "each stage's main(argv), in order, in one process", **result}


def run_floor(ctx: Context, repo: Path, one_process: dict[str, Any]) -> dict[str, Any]:
    """The floor: the level-0 script, or else the stage commands in one process."""
    if not (repo / LEVEL0).is_file():
        return {
            "kind": "stage commands in one process (no level-0 script)",
            **one_process,
        }
    result = _repeated(ctx, repo, f"python {LEVEL0}", "floor (level-0 script)")
    return {"kind": "level-0 script", "command": f"python {LEVEL0}", **result}
