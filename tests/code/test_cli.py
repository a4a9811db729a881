"""`churn`: one command per entry point, with help that explains itself."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from churn import cli
from conftest import ROOT


def _churn(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "churn", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_lists_every_command_with_a_summary() -> None:
    proc = _churn("--help")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    for name in cli.COMMANDS:
        row = next((line for line in lines if line.split()[:1] == [name]), None)
        assert row is not None, f"{name} is not listed"
        assert len(row.split()) > 2, f"{name} has no summary: {row!r}"
    assert "Stage `" not in proc.stdout and "Entry point of" not in proc.stdout


#: Libraries no command may import before it has parsed its arguments, so that
#: `churn <command> --help` and a usage error answer at once.
HEAVY = (
    "pandas",
    "numpy",
    "scipy",
    "sklearn",
    "skops",
    "great_expectations",
    "dvc",
    "fastapi",
    "starlette",
    "pydantic",
    "uvicorn",
    "vl_convert",
    "pyarrow",
    "orjson",
    "matplotlib",
    "mlflow",
)

# One process runs every command's help in turn and, after each, lists the
# heavy libraries loaded so far: what appears first after a run, that run loaded.
_PROBE = """
import contextlib, io, json, sys
from churn import cli
heavy, runs = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for argv in runs:
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(argv)
    except SystemExit as exc:
        code = exc.code
    print(json.dumps([argv, code, [m for m in heavy if m in sys.modules]]))
"""


def _loaded_by(
    runs: list[list[str]], watch: tuple[str, ...] = HEAVY
) -> list[tuple[list[str], object, list[str]]]:
    """Each run's exit code and the watched modules it was the first to load."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(watch), json.dumps(runs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    seen: set[str] = set()
    found = []
    for line in proc.stdout.splitlines():
        argv, code, loaded = json.loads(line)
        found.append((argv, code, [m for m in loaded if m not in seen]))
        seen.update(loaded)
    assert [argv for argv, _, _ in found] == runs, proc.stdout + proc.stderr
    return found


def test_help_and_usage_errors_load_no_heavy_library() -> None:
    runs = [
        ["--help"],
        *([name, "--help"] for name in cli.COMMANDS),
        ["train", "--bogus"],
    ]
    found = _loaded_by(runs)
    heavy = [
        f"churn {' '.join(argv)} loads {loaded}" for argv, _, loaded in found if loaded
    ]
    assert heavy == []
    codes = {" ".join(argv): code for argv, code, _ in found}
    assert codes.pop("train --bogus") == 2
    assert set(codes.values()) == {0}, codes


def test_the_probe_names_the_run_that_loaded_a_module() -> None:
    # The check above can fail: each module is charged to the run that loaded it.
    watch = ("churn.lineage", "churn.pipeline.modelcard")
    runs = [["lineage", "--help"], ["model-card", "--help"], ["lineage", "--help"]]
    found = _loaded_by(runs, watch)
    assert [loaded for _, _, loaded in found] == [[watch[0]], [watch[1]], []]


def test_version_is_the_packages() -> None:
    from importlib import metadata

    proc = _churn("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"churn {metadata.version('churn')}"


def test_an_unknown_command_is_refused_with_the_choices() -> None:
    proc = _churn("trian")
    assert proc.returncode == 2
    assert "invalid choice: 'trian'" in proc.stderr and "'train'" in proc.stderr


@pytest.mark.parametrize("target", sorted(set(cli.COMMANDS.values())))
def test_every_target_exists(target: str) -> None:
    import importlib.util

    module = target.partition(":")[0]
    assert importlib.util.find_spec(module) is not None, module
    assert cli.summary(target), f"{target} has no docstring summary"


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_s_help_keeps_its_docstring_s_lines(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In this process: a `churn` process per command would spend seconds each
    # importing what the test process has already imported.
    with pytest.raises(SystemExit) as done:
        cli.main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: "), out
    # The description keeps the docstring's line breaks instead of refilling
    # them: each of its lines is printed as written.
    doc_lines = [
        line.strip()
        for line in cli.docstring(cli.COMMANDS[name]).splitlines()
        if line.strip()
    ]
    printed = {line.strip() for line in out.splitlines()}
    assert doc_lines and set(doc_lines) <= printed, name


def test_package_s_version_flag_is_the_model_s() -> None:
    proc = _churn("package", "--help")
    assert "--model-version" in proc.stdout
    refused = _churn("package", "--version", "1.0.0")
    assert refused.returncode == 2 and "unrecognized arguments" in refused.stderr
