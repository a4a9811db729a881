"""`make recompute`, which CI runs after `make repro`: the files the report, the gate
and the package read are written again from the model at hand, by each of `drift`
and `evaluate` that the log of `make repro` does not show running in the same job.
"""

import json
from pathlib import Path

import pytest

from conftest import Reproduced, make

pytestmark = pytest.mark.slow

#: A committed file of each recomputed stage, and the figure that is forged in it.
FORGED = {"metrics/metrics.json": "roc_auc", "metrics/drift.json": "drifted"}
#: The forged value, one neither stage ever writes there.
FAKE = 999


def _forge(repo: Path) -> dict[str, dict]:
    """Replace one figure of each file in FORGED; the files as they were."""
    honest = {}
    for name, key in FORGED.items():
        path = repo / name
        honest[name] = json.loads(path.read_text())
        assert key in honest[name], f"{name} has no {key}"
        path.write_text(json.dumps({**honest[name], key: FAKE}))
    return honest


def _figure(repo: Path, name: str) -> float:
    return json.loads((repo / name).read_text())[FORGED[name]]


@pytest.fixture()
def repo(tmp_path: Path, reproduced: Reproduced) -> Path:
    return reproduced.copy(tmp_path / "repo")


def test_without_a_log_both_stages_run_again(repo: Path) -> None:
    honest = _forge(repo)
    out = make("recompute", repo).stdout
    assert "dvc repro --force --single-item drift evaluate" in out
    assert "Running stage 'drift'" in out and "Running stage 'evaluate'" in out
    for name, key in FORGED.items():
        assert _figure(repo, name) == pytest.approx(honest[name][key], abs=1e-6)


def test_a_stage_the_log_shows_running_is_not_run_twice(
    repo: Path, tmp_path: Path
) -> None:
    honest = _forge(repo)
    log = tmp_path / "repro.log"
    # Only a line of its own counts: the same words inside another line do not.
    log.write_text(
        "Running stage 'evaluate':\n"
        "> python -m churn.pipeline.evaluate\n"
        "a log line that quotes Running stage 'drift': is not DVC's\n"
    )
    out = make("recompute", repo, f"REPRO_LOG={log}").stdout
    assert "evaluate ran in this job's make repro" in out
    assert "Running stage 'evaluate'" not in out
    assert "Running stage 'drift'" in out
    assert (
        _figure(repo, "metrics/drift.json") == honest["metrics/drift.json"]["drifted"]
    )
    # Taken as written by this job's evaluate, so left as it is.
    assert _figure(repo, "metrics/metrics.json") == FAKE


def test_a_missing_log_counts_as_no_stage_run(repo: Path, tmp_path: Path) -> None:
    _forge(repo)
    out = make("recompute", repo, f"REPRO_LOG={tmp_path / 'absent.log'}").stdout
    assert "dvc repro --force --single-item drift evaluate" in out
    assert _figure(repo, "metrics/metrics.json") != FAKE
    assert _figure(repo, "metrics/drift.json") != FAKE
