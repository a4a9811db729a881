"""`churn`: one command for every stage of the pipeline.

`churn <command> [options]` runs the same entry point as
`python -m churn.<room>.<module>` (`churn train` is `python -m churn.pipeline.train`).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
from importlib import metadata
from pathlib import Path

#: Subcommand name to the module whose `main(argv)` runs it (or `module:function`).
COMMANDS = {
    "params": "churn.pipeline.params",
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
    "plots": "churn.review.page",
    "package": "churn.delivery.package",
    "serve": "churn.delivery.serve",
    "smoke": "churn.delivery.smoke",
    "predict": "churn.delivery.predict",
    "schema": "churn.delivery.schema",
    "traffic": "churn.delivery.traffic",
    "monitor": "churn.delivery.monitor",
    "lineage": "churn.lineage",
}


def docstring(target: str) -> str:
    """The docstring of a command's module (or function), read from the source
    with `ast`, without importing it: `churn --help` stays instant however heavy
    the commands' libraries are."""
    module, _, function = target.partition(":")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return ""
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    node: ast.AST = tree
    if function:
        node = next(
            n
            for n in tree.body
            if isinstance(n, ast.FunctionDef) and n.name == function
        )
    return ast.get_docstring(node) or ""


def summary(target: str) -> str:
    """The first line of the docstring of a command's module (or function)."""
    doc = docstring(target)
    line = doc.strip().splitlines()[0] if doc.strip() else ""
    # Docstrings that start by naming their command ("Stage `train`: ...",
    # "Entry point of `churn next-month`: ...") say what it does after the colon.
    head, sep, rest = line.partition(": ")
    return rest if sep and "`" in head else line


def _epilog() -> str:
    width = max(map(len, COMMANDS))
    rows = [f"  {name:<{width}}  {summary(COMMANDS[name])}" for name in COMMANDS]
    return (
        "commands:\n"
        + "\n".join(rows)
        + "\n\n`churn <command> --help` for its options."
    )


def version() -> str:
    """The installed package's version, or where it is run from a checkout only."""
    try:
        return metadata.version("churn")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def main(argv: list[str] | None = None) -> int:
    """Dispatch `churn <command> ...` to the command's module."""
    parser = argparse.ArgumentParser(
        prog="churn",
        description=__doc__,
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument(
        "command", choices=list(COMMANDS), metavar="command", help="one of those below"
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help="the command's options")
    ns = parser.parse_args(argv)
    module, _, function = COMMANDS[ns.command].partition(":")
    return getattr(importlib.import_module(module), function or "main")(ns.args)


if __name__ == "__main__":
    raise SystemExit(main())
