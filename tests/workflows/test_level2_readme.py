"""The level-2 tutorial: its commands are run by tests, its links resolve, and the
report it quotes is the example report."""

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, VENV, env_for, make, reader_clone

README = ROOT / "levels" / "2-cicd-automation" / "README.md"
EXAMPLE = README.parent / "example-report.md"
#: The marker above the walk-through's blocks that this module runs.
RUN_HERE = "<!-- run by tests/workflows/test_level2_readme.py -->"
#: Run before every block: `make` reuses the test run's virtualenv.
PRELUDE = 'make() { command make VENV="$VENV" -o "$VENV/.installed" "$@"; }\n'
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


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


def section(heading: str) -> str:
    """The part of the README from the `## heading` line to the next `## ` one."""
    text = README.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_report_quoted_is_the_example_report() -> None:
    # What the walk-through quotes of the report is copied from example-report.md,
    # line for line: the verdict, and the metrics table with its header.
    shown = section("3. Watch the check, and read the report")
    example = set(EXAMPLE.read_text().splitlines())
    quoted = [line[2:] for line in shown.splitlines() if line.startswith("> ")]
    rows = [line for line in shown.splitlines() if line.startswith("|")]
    assert quoted and any("Quality gate" in line for line in quoted)
    assert len(rows) >= 4 and rows[0].startswith("| metric |")
    assert [line for line in quoted + rows if line not in example] == []


def test_the_walk_through_shows_every_plot_of_the_example() -> None:
    shown = section("3. Watch the check, and read the report")
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", shown)
    plots = sorted((README.parent / "report-plots").glob("*.png"))
    assert plots
    assert sorted(images) == [f"report-plots/{p.name}" for p in plots]


def walk_through_blocks() -> list[tuple[str, str | None]]:
    """The bash blocks marked to run here, in order, each with the text block after
    it when one follows directly."""
    text = README.read_text()
    pattern = re.compile(
        re.escape(RUN_HERE) + r"\n```bash\n(.*?)```\n(?:\n```text\n(.*?)```)?", re.S
    )
    return [(m[1], m[2]) for m in pattern.finditer(text)]


def _params(repo: Path) -> dict:
    return yaml.safe_load((repo / "params.yaml").read_text())


def _c(repo: Path) -> float:
    return _params(repo)["train"]["logistic_regression"]["C"]


def _printed(excerpt: str, output: str) -> list[str]:
    """The lines of `excerpt` not printed; `...` in a line stands for anything."""
    printed = output.splitlines()
    missing = []
    for line in excerpt.splitlines():
        parts = [re.escape(part) for part in line.split("...")]
        pattern = re.compile(".*?".join(parts))
        if line.strip() and not any(pattern.fullmatch(out) for out in printed):
            missing.append(line)
    return missing


@pytest.mark.slow
def test_the_walk_through_breaks_the_model_and_the_gate_fails(
    tmp_path: Path,
) -> None:
    # Sections 2 and 4 as a reader runs them in a fresh clone of main: change C,
    # break the model, see the gate fail by the regression rule, revert.
    repo = reader_clone(tmp_path / "churn")
    env = env_for(repo) | {"VENV": str(VENV)}
    before = (repo / "params.yaml").read_text()
    blocks = walk_through_blocks()
    assert [b.split("\n")[0] for b, _ in blocks] == [
        "git switch -c try-regularisation",
        "# params.yaml: train.logistic_regression.C from 0.3 to 0.001",
        "make repro",
        "git revert --no-edit HEAD",
    ]
    runs = []
    for code, excerpt in blocks:
        proc = subprocess.run(
            ["bash", "-c", PRELUDE + code],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
        )
        output = ANSI.sub("", proc.stdout + proc.stderr)
        runs.append((proc.returncode, output, _c(repo)))
        if excerpt:
            assert _printed(excerpt, output) == [], output
    (changed, _, c1), (broke, _, c2), (gate, out, _), (reverted, _, c3) = runs
    assert changed == broke == reverted == 0
    assert (c1, c2, c3) == (0.3, 0.001, 0.3)
    # The one-liners change that one line, comments and all else kept.
    diff = before.splitlines(), (repo / "params.yaml").read_text().splitlines()
    assert [a for a, b in zip(*diff, strict=True) if a != b] == ["    C: 1.0"]
    # `make gate` is the last command of its block: the gate exited 1.
    assert gate != 0 and "gate FAILED (rule: regression)" in out
    assert "[Makefile:" in out and "gate] Error 1" in out
