"""Level 0's committed notebook is its script, executed: same cells, with outputs.

`make notebook` writes levels/0-manual/train_churn.ipynb from train_churn.py; a
script edited without regenerating the notebook fails here. That the outputs are
the script's own results is checked against a run of the script in
tests/model/test_level0.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys

import jupytext
import nbformat
import pytest

from conftest import ROOT

LEVEL0 = ROOT / "levels" / "0-manual"
SCRIPT = LEVEL0 / "train_churn.py"
NOTEBOOK = LEVEL0 / "train_churn.ipynb"
ROC_AUC = re.compile(r"^test ROC AUC:\s+([0-9.]+)$", re.M)


def _load_builder():
    spec = importlib.util.spec_from_file_location(
        "build_notebook", LEVEL0 / "build_notebook.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


def cells(nb: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """(kind, source) of each cell, trailing blanks of lines and cells ignored."""
    return [
        (
            cell.cell_type,
            "\n".join(line.rstrip() for line in cell.source.strip().splitlines()),
        )
        for cell in nb.cells
    ]


def printed(nb: nbformat.NotebookNode) -> str:
    """Everything the notebook's code cells printed, in order."""
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
    )


@pytest.fixture(scope="module")
def notebook() -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOK, as_version=4)


def test_the_notebook_holds_the_scripts_cells(notebook) -> None:
    assert cells(jupytext.read(NOTEBOOK)) == cells(jupytext.read(SCRIPT)), (
        "train_churn.py changed: run `make notebook`"
    )
    assert cells(notebook) == cells(jupytext.read(SCRIPT))


def test_an_edited_script_no_longer_matches(notebook, tmp_path) -> None:
    text = SCRIPT.read_text()
    assert "C=1.0," in text
    edited = tmp_path / "train_churn.py"
    edited.write_text(text.replace("C=1.0,", "C=0.5,"))
    assert cells(jupytext.read(edited)) != cells(notebook)
    # Blank lines and trailing spaces alone are not a difference.
    edited.write_text(text.replace("\n# %%\n", "\n\n# %%   \n"))
    assert cells(jupytext.read(edited)) == cells(notebook)


def test_every_code_cell_ran_in_order_without_errors(notebook) -> None:
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    kinds = {out.output_type for c in code for out in c.outputs}
    assert kinds == {"stream"}, "no errors and no rich output"
    streams = {out.name for c in code for out in c.outputs}
    assert streams == {"stdout"}, "nothing on stderr: no warnings"
    text = printed(notebook)
    assert len(ROC_AUC.findall(text)) == 1
    assert "confusion matrix" in text
    assert text.rstrip().splitlines()[-1].startswith("saved churn_model_final_v2")


def test_each_pain_is_a_markdown_cell(notebook) -> None:
    kinds = [cell.cell_type for cell in notebook.cells]
    assert kinds.count("markdown") >= 6 and kinds.count("code") >= 6
    pains = [c for c in notebook.cells if "**Pain:" in c.source]
    assert {c.cell_type for c in pains} == {"markdown"}
    assert sum(c.source.count("**Pain:") for c in pains) == 7


def test_the_file_holds_nothing_of_the_run_or_the_machine(notebook) -> None:
    text = NOTEBOOK.read_text(encoding="utf-8")
    assert len(text.encode()) < 100_000
    for needle in (str(ROOT), sys.prefix, "/tmp/", "/home/", "/root/", '"execution"'):
        assert needle not in text, needle
    assert [c.id for c in notebook.cells] == [
        f"cell-{n:02d}" for n in range(1, len(notebook.cells) + 1)
    ]
    assert "version" not in notebook.metadata["language_info"]
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    nbformat.validate(notebook)
    # What nbformat writes, so that a rewrite changes no byte.
    assert text == nbformat.writes(notebook) + "\n"


def test_tidy_takes_out_what_changes_between_runs() -> None:
    nb = nbformat.v4.new_notebook(
        metadata={"language_info": {"name": "python", "version": "3.11.7"}}
    )
    cell = nbformat.v4.new_code_cell("print(1); print(2)", execution_count=1)
    cell.metadata["execution"] = {"iopub.status.busy": "2024-01-01T00:00:00Z"}
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="1\n"),
        nbformat.v4.new_output("stream", name="stdout", text="2\n"),
        nbformat.v4.new_output("stream", name="stderr", text="warn\n"),
        nbformat.v4.new_output("stream", name="stdout", text="3\n"),
    ]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), cell]
    out = json.loads(nbformat.writes(builder.tidy(nb)))
    assert [c["id"] for c in out["cells"]] == ["cell-01", "cell-02"]
    assert out["cells"][1]["metadata"] == {}
    assert out["metadata"]["language_info"] == {"name": "python"}
    assert [(o["name"], "".join(o["text"])) for o in out["cells"][1]["outputs"]] == [
        ("stdout", "1\n2\n"),
        ("stderr", "warn\n"),
        ("stdout", "3\n"),
    ]
