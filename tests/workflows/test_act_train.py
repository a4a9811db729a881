"""The real train workflow, run by `act` in host mode on pull requests.

Each case clones the repository, opens a `pr` branch that changes params.yaml and
runs `.github/workflows/train.yml` with the local stand-in actions and the
recording `cml`. One PR changes a parameter harmlessly (the level-2 README's `make
act-train` command): the job passes and `cml` receives the report. One wrecks the
model and comes from a fork: the gate fails the job and nothing is posted. One
brings data that fails validation: the report still goes out, then the job fails.
"""

import json
import re
import shlex
import struct
from pathlib import Path

import actrun
import pytest
import yaml
from test_level2_readme import bash_commands

from conftest import ROOT, SOURCE, VENV, make

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"
WRECK = [
    "train.estimator=hist_gradient_boosting",
    "train.hist_gradient_boosting.max_iter=1",
    # Six leaves: clearly worse than main, still above the gate's 0.80 floor.
    "train.hist_gradient_boosting.max_leaf_nodes=6",
]


def _run(
    tmp: Path, params: list[str], *, fork: bool, files: dict[str, str] | None = None
) -> actrun.ActRun:
    repo = actrun.pull_request_clone(tmp / "repo", params, files=files)
    return actrun.run_act(repo, venv=VENV, work=tmp, fork=fork)


@pytest.fixture(scope="module")
def harmless(tmp_path_factory: pytest.TempPathFactory) -> actrun.ActRun:
    """The level-2 README's `make act-train ...` command, as a user runs it."""
    tmp = tmp_path_factory.mktemp("act-harmless")
    (command,) = [c for c in bash_commands() if c.startswith("make act-train")]
    _, target, *args = shlex.split(command)
    assert target == "act-train"
    return _make_act_train(tmp, *args)


def _make_act_train(tmp: Path, *args: str) -> actrun.ActRun:
    proc = make("act-train", ROOT, *args, f"WORK={tmp}", check=False)
    return actrun.ActRun(
        proc.returncode, proc.stdout + proc.stderr, tmp / "cml", tmp / "artifacts"
    )


@pytest.fixture(scope="module")
def wrecked(tmp_path_factory: pytest.TempPathFactory) -> actrun.ActRun:
    """`make act-train PARAM="<three settings>" FORK=1`, as the README shows."""
    tmp = tmp_path_factory.mktemp("act-wrecked")
    return _make_act_train(tmp, f"PARAM={' '.join(WRECK)}", "FORK=1")


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory: pytest.TempPathFactory) -> actrun.ActRun:
    """A PR whose data has a contract type the contract does not allow."""
    lines = SOURCE.read_text().splitlines(keepends=True)
    assert ",Month-to-month," in lines[1]
    lines[1] = lines[1].replace(",Month-to-month,", ",Weekly,")
    source = SOURCE.relative_to(ROOT).as_posix()
    tmp = tmp_path_factory.mktemp("act-bad-data")
    return _run(tmp, [], fork=False, files={source: "".join(lines)})


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(PNG), f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_harmless_change_passes(harmless: actrun.ActRun) -> None:
    assert harmless.returncode == 0, harmless.output[-5000:]
    assert "act exited 0; cml calls and reports:" in harmless.output
    assert "Success - Main Quality gate" in harmless.output
    assert "gate passed" in harmless.output


def test_cml_received_the_report(harmless: actrun.ActRun) -> None:
    calls = [
        json.loads(line)
        for line in (harmless.record / "calls.jsonl").read_text().splitlines()
    ]
    assert [c["args"][:3] for c in calls] == [["comment", "update", "report.md"]]
    assert "--watermark-title=churn model report" in calls[0]["args"]
    assert "--target=pr" in calls[0]["args"]
    text = (harmless.record / "0" / "report.md").read_text()
    assert "| metric | main | PR | change | 95% CI of change | |" in text
    main_auc = json.loads((ROOT / "metrics" / "metrics.json").read_text())["roc_auc"]
    assert f"| roc_auc ↑ | {main_auc:.4f} |" in text
    assert "| `train.logistic_regression.C` | `1.0` | `0.3` |" in text
    assert "**Quality gate: ✅ pass**" in text
    assert re.search(r"✅ all \d+ expectations passed on \d+ rows\.", text)
    images = [line for line in text.splitlines() if line.startswith("![")]
    # One image per plot that dvc.yaml declares.
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    assert len(images) == len(plots)
    for line in images:
        link = line.split("](", 1)[1].rstrip(")")
        width, height = _png_size(harmless.record / "0" / link)
        assert width > 100 and height > 100


def test_artifacts_hold_model_metrics_plots_and_data_docs(
    harmless: actrun.ActRun,
) -> None:
    art = harmless.artifacts / "train"
    assert (art / "models" / "model.skops").stat().st_size > 0
    assert json.loads((art / "metrics" / "metrics.json").read_text())["roc_auc"] > 0.8
    assert (art / "metrics" / "slices.json").is_file()
    assert (art / "plots" / "roc.json").is_file()
    assert (art / "reports" / "validation" / "data_docs" / "index.html").is_file()
    assert (art / "report.md").read_text().startswith("## Churn model report")


def test_wrecked_model_fails_the_job(wrecked: actrun.ActRun) -> None:
    assert wrecked.returncode != 0
    assert "act exited 1" in wrecked.output
    assert "Failure - Main Quality gate" in wrecked.output
    assert "gate FAILED (rule: regression)" in wrecked.output
    text = (wrecked.artifacts / "train" / "report.md").read_text()
    assert "**Quality gate: ❌ fail** (rule `regression`)" in text
    assert '| `train.estimator` | `"logistic_regression"` |' in text


def test_fork_pull_request_is_not_posted(wrecked: actrun.ActRun) -> None:
    assert "Report not posted" in wrecked.output
    assert not (wrecked.record / "calls.jsonl").exists()


def test_bad_data_is_reported_and_fails_the_job(bad_data: actrun.ActRun) -> None:
    assert bad_data.returncode != 0
    # The failed pipeline does not stop the report: it is posted, then the job fails.
    assert "Success - Main Post the report on the pull request" in bad_data.output
    assert "gate FAILED (rule: validation)" in bad_data.output
    assert "Failure - Main Quality gate" in bad_data.output
    text = (bad_data.record / "0" / "report.md").read_text()
    assert "**Quality gate: ❌ fail** (rule `validation`)" in text
    assert "| `expect_column_values_to_be_in_set` | contract | 1 | `'Weekly'` |" in text
    assert "these are the metrics of the last good model" in text


def test_readme_shows_the_wrecking_settings_this_test_uses() -> None:
    readme = (ROOT / "levels" / "2-cicd-automation" / "README.md").read_text()
    assert f'`PARAM="{" ".join(WRECK)}"`' in readme
