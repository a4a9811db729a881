"""`make report` and `make gate` in a fresh clone: a revision is data, never shell.

Whatever `BASE` holds reaches churn as one argument, which refuses a revision git
does not know; and `make gate` takes the verdict file `make report` wrote only when
it belongs to this checkout's evidence.
"""

import json
from pathlib import Path

import pytest

from conftest import clone, make

HIDDEN = [
    "x;touch INJECTED",
    "$(shell touch INJECTED)",
    "`touch INJECTED`",
    "$$(touch INJECTED)",
    "main' && touch INJECTED && echo '",
]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clone(tmp_path_factory.mktemp("review") / "repo")


@pytest.mark.parametrize("target", ["report", "gate"])
@pytest.mark.parametrize("base", HIDDEN)
def test_a_command_in_base_is_not_run(fresh: Path, target: str, base: str) -> None:
    proc = make(target, fresh, f"BASE={base}", check=False)
    assert not (fresh / "INJECTED").exists(), proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert f"base revision {base!r} not found" in proc.stderr
    assert not (fresh / "report.md").exists()


def test_a_real_base_reaches_the_gate_which_refuses_unvalidated_data(
    fresh: Path,
) -> None:
    # A fresh clone has main's metrics but not validation.json (a DVC output).
    proc = make("gate", fresh, "BASE=origin/main", check=False)
    assert proc.returncode != 0
    assert "gate CANNOT JUDGE (exit 2)" in proc.stderr
    assert "metrics/validation.json is missing" in proc.stderr
    assert "base revision" not in proc.stderr


def test_make_gate_takes_report_json_and_refuses_one_of_other_evidence(
    fresh: Path,
) -> None:
    forged = {
        "format": 1,
        "verdict": "pass",
        "rule": "tolerance",
        "reason": "written by hand",
        "exit_code": 0,
        "evidence": {"base": "origin/main", "base_commit": "0" * 40},
    }
    (fresh / "report.json").write_text(json.dumps(forged))
    try:
        proc = make("gate", fresh, "BASE=origin/main", check=False)
    finally:
        (fresh / "report.json").unlink()
    assert proc.returncode != 0
    assert "--verdict report.json" in proc.stdout
    assert "other evidence" in proc.stderr and "gate passed" not in proc.stderr
