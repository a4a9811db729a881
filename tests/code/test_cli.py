"""`churn`: one command per entry point, with help that explains itself."""

from __future__ import annotations

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


def test_help_imports_no_command() -> None:
    # The summaries come from the sources, so help needs none of the heavy
    # libraries the commands import.
    code = (
        "import sys\n"
        "from churn import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sklearn', 'pandas', 'great_expectations', 'dvc')"
        " if m in sys.modules]\n"
        "print('loaded:', heavy)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert proc.stdout.strip().endswith("loaded: []"), proc.stdout + proc.stderr


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
