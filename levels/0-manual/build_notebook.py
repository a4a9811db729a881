"""Write train_churn.ipynb from the `# %%` script beside it, executed: `make notebook`.

jupytext turns the script's cells into a notebook; nbclient runs them in a python3
kernel of the virtualenv running this file, from this folder, as Jupyter would. What
would differ between two runs on one machine is taken out, so the file changes only
when the script or its results do: the time each cell ran, the interpreter's patch
version, random cell ids, and how a cell's printing happened to be split into
messages.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "train_churn.py"
NOTEBOOK = HERE / "train_churn.ipynb"
#: Seconds one cell may take; the whole script runs in about ten.
CELL_TIMEOUT = 600


def convert(script: Path) -> nbformat.NotebookNode:
    """The notebook jupytext reads from the `# %%` script, not yet executed."""
    return jupytext.read(script)


def execute(nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """Run every cell of `nb` in a fresh python3 kernel working in `folder`."""
    with tempfile.TemporaryDirectory(prefix="churn-kernel-") as sockets:
        # No kernel directories: the python3 kernel is ipykernel's own, started with
        # this interpreter, whatever other Pythons' kernels the machine registered.
        # It talks over Unix sockets in a private folder, never over TCP.
        km = KernelManager(
            kernel_name="python3",
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[]),
            transport="ipc",
            ip=str(Path(sockets) / "kernel"),
        )
        client = NotebookClient(
            nb,
            km=km,
            timeout=CELL_TIMEOUT,
            record_timing=False,
            resources={"metadata": {"path": str(folder)}},
        )
        try:
            return client.execute()
        finally:
            if km.has_kernel:
                km.shutdown_kernel()


def _merge_streams(outputs: list) -> list:
    merged: list = []
    for out in outputs:
        last = merged[-1] if merged else None
        if (
            out.get("output_type") == "stream"
            and last is not None
            and last.get("output_type") == "stream"
            and last.get("name") == out.get("name")
        ):
            last["text"] += out["text"]
        else:
            merged.append(out)
    return merged


def tidy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """`nb` without what changes from run to run: timings, the interpreter's patch
    version, random cell ids; consecutive prints of a cell as one output."""
    for number, cell in enumerate(nb.cells, 1):
        cell["id"] = f"cell-{number:02d}"
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = _merge_streams(cell.outputs)
    nb.metadata.get("language_info", {}).pop("version", None)
    nb.metadata.get("jupytext", {}).pop("text_representation", None)
    return nb


def build(script: Path = SCRIPT, out: Path = NOTEBOOK) -> Path:
    """Convert, execute, tidy and write the notebook; returns its path."""
    nb = tidy(execute(convert(script), script.parent))
    nbformat.validate(nb)
    nbformat.write(nb, out)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point: write the executed notebook."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", type=Path, default=SCRIPT)
    parser.add_argument("--out", type=Path, default=NOTEBOOK)
    args = parser.parse_args(argv)
    path = build(args.script, args.out)
    print(f"wrote {path.name}, {path.stat().st_size // 1024} KB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
