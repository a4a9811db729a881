"""The suite's time per test folder (`make bench-suite`): read from pytest's own
JUnit report, and shown in RESULTS.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

# The benchmark's scripts import their siblings as top-level modules.
sys.path.insert(0, str(ROOT / "benchmarks"))

import report  # noqa: E402
import suite  # noqa: E402

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" tests="5">
<testcase classname="tests.code.test_cli" name="test_help" time="0.50"/>
<testcase classname="tests.code.test_cli" name="test_version" time="0.25"/>
<testcase classname="tests.pipeline.test_end_to_end" name="test_repro" time="40.0">
  <failure message="boom">assert 1 == 2</failure>
</testcase>
<testcase classname="tests.pipeline.test_plots" name="test_page" time="2.0">
  <skipped message="no browser"/>
</testcase>
<testcase classname="tests.workflows.test_act" name="test_pr" time="10.0"/>
</testsuite></testsuites>
"""


@pytest.fixture
def junit(tmp_path: Path) -> Path:
    path = tmp_path / "suite.xml"
    path.write_text(JUNIT)
    return path


def test_summary_sums_each_folder(junit: Path) -> None:
    summary = suite.summarise(junit, wall_s=30.0)
    assert summary["tests"] == 5 and summary["failed"] == 1
    assert summary["wall_s"] == 30.0
    folders = summary["folders"]
    assert list(folders) == ["tests/code", "tests/pipeline", "tests/workflows"]
    assert folders["tests/code"] == {
        "tests": 2,
        "failed": 0,
        "skipped": 0,
        "seconds": 0.75,
    }
    assert folders["tests/pipeline"]["failed"] == 1
    assert folders["tests/pipeline"]["skipped"] == 1
    assert summary["slowest_file"] == {
        "path": "tests/pipeline/test_end_to_end.py",
        "seconds": 40.0,
    }


@pytest.mark.parametrize(
    "text, reason",
    [
        (None, "cannot read"),
        ("<testsuites><testsuite", "cannot read"),
        ("<testsuites><testsuite/></testsuites>", "no test case"),
    ],
)
def test_a_report_that_cannot_be_read_is_an_error(
    tmp_path: Path, text: str | None, reason: str
) -> None:
    path = tmp_path / "suite.xml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(suite.SuiteError, match=reason):
        suite.summarise(path)


def test_results_show_the_suite_per_folder(junit: Path) -> None:
    head, rows = report.suite_rows({"suite": suite.summarise(junit, wall_s=30.0)})
    assert head[0] == "test folder"
    assert [r[0] for r in rows[:3]] == [
        "tests/code",
        "tests/pipeline",
        "tests/workflows",
    ]
    assert rows[1][1:] == ["2", "1", "42.0"]
    assert rows[3][0].endswith("wall 30.0 s") and rows[3][-1] == "52.8"
    assert "test_end_to_end.py" in rows[4][0]
    assert report.suite_rows({}) == (head, [])


def test_the_command_writes_the_summary_or_says_why_not(
    junit: Path, tmp_path: Path
) -> None:
    script = ROOT / "benchmarks" / "suite.py"
    out = tmp_path / "suite.json"
    # The report holds a failed test: written, and a failure.
    done = subprocess.run(
        [sys.executable, script, "--junit", junit, "--out", out],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(out.read_text())["folders"]["tests/code"]["tests"] == 2
    missing = subprocess.run(
        [sys.executable, script, "--junit", tmp_path / "none.xml", "--out", out],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2
    assert "cannot read the JUnit report" in missing.stderr


def test_the_committed_results_show_the_suite() -> None:
    # RESULTS.md is regenerated from results.json, which carries the suite's run.
    results = json.loads((ROOT / "benchmarks" / "results.json").read_text())
    committed = json.loads((ROOT / "benchmarks" / "suite.json").read_text())
    assert results["suite"] == committed
    text = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    assert "## Test suite" in text
    for folder in committed["folders"]:
        assert f"| {folder} |" in text
