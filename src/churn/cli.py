"""`churn`: one command for every stage of the pipeline.

`churn <stage> [options]` runs the same entry point as `python -m churn.<stage>`.
"""

from __future__ import annotations

import argparse
import importlib

#: Subcommand name to the module whose `main(argv)` runs it (or `module:function`).
COMMANDS = {
    "batches": "churn.batches",
    "next-month": "churn.batches:next_month",
    "validate": "churn.validate",
    "ingest": "churn.ingest",
    "prepare": "churn.prepare",
    "train": "churn.train",
    "evaluate": "churn.evaluate",
    "drift": "churn.drift",
    "compare": "churn.compare",
    "model-card": "churn.modelcard",
    "expectations": "churn.expectations",
    "report": "churn.report",
    "gate": "churn.gate",
    "package": "churn.package",
    "serve": "churn.serve",
    "smoke": "churn.smoke",
    "predict": "churn.predict",
    "schema": "churn.schema",
    "lineage": "churn.lineage",
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch `churn <command> ...` to the command's module."""
    parser = argparse.ArgumentParser(prog="churn", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the command's options")
    ns = parser.parse_args(argv)
    module, _, function = COMMANDS[ns.command].partition(":")
    return getattr(importlib.import_module(module), function or "main")(ns.args)


if __name__ == "__main__":
    raise SystemExit(main())
