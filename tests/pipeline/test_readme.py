"""The README's quick start is the two commands, and CI runs the same test command."""

import re
import subprocess

from conftest import ROOT


def _quick_start_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line and not line.startswith("#")]


def test_quick_start_is_pipeline_then_tests() -> None:
    assert _quick_start_commands() == ["make repro", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", script, re.M)


def test_make_help_sample_is_the_real_output() -> None:
    readme = (ROOT / "README.md").read_text()
    shown = re.search(r"```bash\nmake help\n```\n\n```text\n(.*?)```\n", readme, re.S)
    assert shown, "the README shows `make help` and what it prints"
    real = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert shown.group(1) == real
