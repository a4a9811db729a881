"""`churn`: one command for every stage of the pipeline.

`churn <command> [options]` runs the same entry point as
`python -m churn.<room>.<module>` (`churn train` is `python -m churn.pipeline.train`).
"""

from __future__ import annotations

import argparse
import importlib

#: Subcommand name to the module whose `main(argv)` runs it (or `module:function`).
COMMANDS = {
    "batches": "churn.data.batches",
    "next-month": "churn.data.batches:next_month",
    "validate": "churn.data.validate",
    "ingest": "churn.data.ingest",
    "prepare": "churn.pipeline.prepare",
    "train": "churn.pipeline.train",
    "evaluate": "churn.pipeline.evaluate",
    "drift": "churn.pipeline.drift",
    "compare": "churn.pipeline.compare",
    "model-card": "churn.pipeline.modelcard",
    "expectations": "churn.data.expectations",
    "report": "churn.review.report",
    "gate": "churn.review.gate",
    "package": "churn.delivery.package",
    "serve": "churn.delivery.serve",
    "smoke": "churn.delivery.smoke",
    "predict": "churn.delivery.predict",
    "schema": "churn.delivery.schema",
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
