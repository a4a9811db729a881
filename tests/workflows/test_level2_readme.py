"""The level-2 tutorial: its commands are run by tests, its links resolve."""

import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, make

README = ROOT / "levels" / "2-cicd-automation" / "README.md"


def bash_commands(path: Path = README) -> list[str]:
    """Command lines of the ```bash blocks not marked `# needs GitHub`."""
    blocks = re.findall(r"```bash\n(.*?)```", path.read_text(), re.S)
    return [
        line
        for block in blocks
        if "# needs GitHub" not in block
        for line in block.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_make_lint_workflows_reports_nothing() -> None:
    assert "make lint-workflows" in bash_commands()
    proc = make("lint-workflows", ROOT)
    assert "No findings to report" in proc.stdout + proc.stderr


@pytest.mark.parametrize("name", ["README.md", "example-report.md"])
def test_relative_links_resolve(name: str) -> None:
    text = (README.parent / name).read_text()
    links = re.findall(r"\]\(([^)#\s]+)\)", text)
    local = [link for link in links if not re.match(r"[a-z]+://", link)]
    assert local
    for link in local:
        assert (README.parent / link).exists(), link


def test_example_report_is_a_real_report_with_png_plots() -> None:
    text = (README.parent / "example-report.md").read_text()
    assert text.startswith("## Churn model report")
    assert "| `train.logistic_regression.C` | `1.0` | `0.3` |" in text
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    # One image per plot the pipeline declares: the example is not a stale run.
    assert len(images) == len(yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"])
    for link in images:
        assert (README.parent / link).read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    "path", sorted((README.parent).rglob("*")), ids=lambda p: p.name
)
def test_committed_files_are_under_a_megabyte(path: Path) -> None:
    assert path.stat().st_size < 1_000_000
