"""The real train workflow, run by `act` in host mode on pull requests.

Each case clones the repository, opens a `pr` branch that changes params.yaml and
runs `.github/workflows/train.yml` with the local stand-in actions, then
`.github/workflows/report.yml` on the `workflow_run` event train's end sends, with
the recording `cml` and `gh`. One PR changes a parameter harmlessly (the level-2
README's `make act-train` command, after ci.yml saved main's DVC cache): the job
restores main's predictions from it, passes, and `cml` receives the report.
One wrecks the model and comes from a fork, with the cloud runner switched on and
no cache: the fork gets no cloud runner, train runs on GitHub's, reproduces main
for its predictions, the gate fails the job, and report.yml still posts the report.
One brings data that fails validation: the report goes out, and the job fails.
One forges its metrics together with their hashes in dvc.lock, with a warm DVC
cache that makes `dvc repro` trust them: the job recomputes them and the gate
fails.
"""

import json
import re
import shlex
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import actrun
import pytest
import yaml
from test_level2_readme import bash_commands

import docimages
from conftest import ROOT, SOURCE, VENV, Reproduced, make, run

pytestmark = pytest.mark.slow

PNG = b"\x89PNG\r\n\x1a\n"
WRECK = [
    "train.estimator=hist_gradient_boosting",
    "train.hist_gradient_boosting.max_iter=1",
    # Six leaves: clearly worse than main, still above the gate's 0.80 floor.
    "train.hist_gradient_boosting.max_leaf_nodes=6",
]


REPORT_CALL = [
    "comment",
    "update",
    "report.md",
    "--target=pr/1",
    f"--repo=https://github.com/{actrun.REPOSITORY}",
    "--watermark-title=churn model report",
]


@dataclass(frozen=True)
class Flow:
    """train.yml on a pull request, then report.yml on its workflow_run."""

    train: actrun.ActRun
    report: actrun.ActRun

    @property
    def output(self) -> str:
        return self.train.output + self.report.output


def _flow(
    repo: Path,
    tmp: Path,
    *,
    fork: bool,
    variables: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> Flow:
    train, report = actrun.run_pull_request(
        repo, venv=VENV, work=tmp, fork=fork, variables=variables, env=env
    )
    return Flow(train, report)


def _cml_calls(record: Path) -> list[list[str]]:
    calls = record / "calls.jsonl"
    if not calls.exists():
        return []
    return [json.loads(line)["args"] for line in calls.read_text().splitlines()]


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
def wrecked(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    """The README's wrecking settings from a fork, with CML_CLOUD set."""
    tmp = tmp_path_factory.mktemp("act-wrecked")
    repo = actrun.pull_request_clone(tmp / "repo", WRECK)
    return _flow(repo, tmp, fork=True, variables={"CML_CLOUD": "aws"})


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory: pytest.TempPathFactory) -> Flow:
    """A PR whose data has a contract type the contract does not allow."""
    lines = SOURCE.read_text().splitlines(keepends=True)
    assert ",Month-to-month," in lines[1]
    lines[1] = lines[1].replace(",Month-to-month,", ",Weekly,")
    source = SOURCE.relative_to(ROOT).as_posix()
    tmp = tmp_path_factory.mktemp("act-bad-data")
    repo = actrun.pull_request_clone(tmp / "repo", [], files={source: "".join(lines)})
    return _flow(repo, tmp, fork=False)


#: The files a forger copies from main, with their hashes committed in dvc.lock.
FORGED = ("metrics/metrics.json", "metrics/predictions.csv")


@pytest.fixture(scope="module")
def forged(tmp_path_factory: pytest.TempPathFactory, reproduced: Reproduced) -> Flow:
    """A PR that wrecks the model, then commits main's metrics and predictions in
    place of its own, with their md5 in dvc.lock (`dvc commit`), so that `dvc
    repro` finds every stage up to date. The DVC cache that train restores holds
    the wrecked model (as an earlier run of the same PR would have left it), and
    CML_CLOUD is set without its secrets, so the cloud runner fails to launch."""
    tmp = tmp_path_factory.mktemp("act-forged")
    repo = actrun.pull_request_clone(tmp / "repo", WRECK)
    # main's predictions are in no commit: the forger reproduces main for them,
    # from a DVC cache that already ran main (its run cache restores the outputs).
    cache = repo / ".dvc" / "cache"
    shutil.copytree(reproduced.repo / ".dvc" / "cache", cache, dirs_exist_ok=True)
    run(["git", "checkout", "-q", "main"], repo)
    run(["dvc", "repro", "evaluate"], repo)
    mains = {name: (repo / name).read_text() for name in FORGED}
    run(["git", "checkout", "-q", "pr"], repo)
    run(["dvc", "repro"], repo)
    for name in FORGED:
        (repo / name).write_text(mains[name])
    run(["dvc", "commit", "--force", "evaluate"], repo)
    run(["git", "commit", "-qam", "Forge the metrics"], repo)
    status = run(["dvc", "status"], repo).stdout
    assert "Data and pipelines are up to date" in status, status
    shutil.copytree(repo / ".dvc" / "cache", tmp / "act-cache" / "dvc-Linux-forged")
    return _flow(
        repo,
        tmp,
        fork=False,
        variables={"CML_CLOUD": "aws"},
        env={"ACT_CACHE_DIR": str(tmp / "act-cache")},
    )


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
    # Posted by report.yml, from the artifact train uploaded.
    assert "Success - Main Post the report on the pull request" in harmless.output
    assert _cml_calls(harmless.record) == [REPORT_CALL]
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


def test_the_report_artifact_holds_only_the_report(harmless: actrun.ActRun) -> None:
    art = harmless.artifacts / "report-1"
    names = sorted(p.relative_to(art).as_posix() for p in art.rglob("*") if p.is_file())
    assert "report.md" in names
    assert all(
        n in ("report.md", "report.json")
        or re.fullmatch(r"report-plots/[\w-]+\.png", n)
        for n in names
    ), names
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    assert len([n for n in names if n.endswith(".png")]) == len(plots)


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


def test_make_doc_images_draws_the_docs_pictures_from_this_run(
    harmless: actrun.ActRun, tmp_path: Path
) -> None:
    # The README's act run is the example's: `make doc-images` reuses it, and
    # runs the pipeline through month 6 for the drift chart.
    assert harmless.returncode == 0, harmless.output[-3000:]
    out = tmp_path / "out"
    work = harmless.artifacts.parent
    proc = make("doc-images", ROOT, f"WORK={work}", f"OUT={out}")
    assert f"reusing the act run in {work}" in proc.stdout + proc.stderr
    example = out / "levels" / "2-cicd-automation"
    text = (example / "example-report.md").read_text()
    committed = (
        ROOT / "levels" / "2-cicd-automation" / "example-report.md"
    ).read_text()
    # Names and structure, not numbers: those are this machine's.
    assert re.findall(r"^#+ .*$", text, re.M) == re.findall(r"^#+ .*$", committed, re.M)
    links = docimages.image_links(text)
    assert links == docimages.image_links(committed)
    assert sorted(p.name for p in (example / "report-plots").iterdir()) == sorted(
        Path(link).name for _, link in links
    )
    drift = out / "levels" / "1-pipeline-automation" / "images" / "drift-month-6.png"
    for path in [drift, *(example / link for _, link in links)]:
        width, height = _png_size(path)
        assert width > 300 and height > 300, path
        assert path.stat().st_size < docimages.MAX_BYTES, path


BASE_STEP = "Put the base's predictions in the DVC cache"
RECOMPUTE_STEP = "Recompute the metrics from this job's model"


def test_what_make_repro_ran_in_the_job_is_not_run_again(
    harmless: actrun.ActRun,
) -> None:
    # The new parameter made the job's `make repro` run evaluate, which wrote the
    # metrics from this model; drift's inputs had not changed, so its committed
    # files were kept, and drift alone runs again.
    train = harmless.output[harmless.output.index("[train/train") :]
    step = actrun.step_log(train, RECOMPUTE_STEP)
    assert "evaluate ran in this job's make repro" in step
    assert "Running stage 'drift'" in step
    assert "Running stage 'evaluate'" not in step


def test_mains_push_saved_the_dvc_cache_that_the_pull_request_restored(
    harmless: actrun.ActRun,
) -> None:
    # ci.yml's dvc-cache job ran on main first and kept .dvc/cache under its key;
    # train restored it, so main's predictions were there, reproduced by no one.
    output = harmless.output
    assert "ci.yml dvc-cache on main: act exited 0" in output
    saved = re.search(r"cache saved as (\S+/dvc-Linux-[0-9a-f]{64})", output)
    assert saved, output[-3000:]
    assert f"cache restored from {saved[1]}" in output
    step = actrun.step_log(output, BASE_STEP)
    assert "readable=true" in step and "reproducing" not in step


def test_mains_push_saved_the_virtualenv_that_the_pull_request_restored(
    harmless: actrun.ActRun,
) -> None:
    # Saved under the digest make's install stamp holds, restored by that exact key,
    # after which the job's `make install` had nothing to do: the digest the job
    # took agreed with the stamp's (one that disagrees reinstalls, whatever the
    # files' times). The virtualenv is the borrowed one, a few links; the
    # benchmark's neutral pull request restores a real one.
    output = harmless.output
    saved = re.search(r"cache saved as (\S+/venv-Linux-[0-9a-f]{20})\n", output)
    assert saved, output[-3000:]
    # Under forced colour act starts a step's output lines without the job's name:
    # train's part is all that follows its first line.
    train = output[output.index("[train/train") :]
    assert f"cache restored from {saved[1]} (exact key: true)" in train
    assert "Run Main Save the virtualenv" not in train, "a hit is not saved again"
    install = actrun.step_log(train, "Install into .venv")
    assert "already holds this lock: nothing to install" in install
    assert "pip install" not in install


def test_a_cache_without_mains_predictions_makes_train_reproduce_main(
    wrecked: Flow,
) -> None:
    # No push to main saved a cache here: train rebuilt main in a worktree that
    # shares its DVC cache, and the gate judged against it.
    output = wrecked.train.output
    assert "cache miss for dvc-Linux-" in output
    step = actrun.step_log(output, BASE_STEP)
    assert "reproducing origin/main (" in step
    assert "Running stage 'evaluate'" in step and "readable=true" in step
    assert f"Success - Main {BASE_STEP}" in output
    assert "gate FAILED (rule: regression)" in output


def test_wrecked_model_fails_the_job(wrecked: Flow) -> None:
    assert wrecked.train.returncode != 0
    assert "Failure - Main Quality gate" in wrecked.train.output
    assert "gate FAILED (rule: regression)" in wrecked.train.output
    text = (wrecked.train.artifacts / "train" / "report.md").read_text()
    assert "**Quality gate: ❌ fail** (rule `regression`)" in text
    assert '| `train.estimator` | `"logistic_regression"` |' in text


def test_a_fork_gets_no_cloud_runner_and_trains_on_githubs(wrecked: Flow) -> None:
    # CML_CLOUD is set, but a fork's run has no secrets and must not reach a
    # self-hosted machine: launch-runner is skipped, train runs on ubuntu-latest.
    assert "Launch a cloud runner" not in wrecked.train.output
    assert re.search(
        r"\[train/train\s*\] ⭐ Run Main Quality gate", wrecked.train.output
    )
    assert not any(
        c[:2] == ["runner", "launch"] for c in _cml_calls(wrecked.train.record)
    )


def test_a_fork_pull_request_gets_the_report_through_report_yml(wrecked: Flow) -> None:
    assert wrecked.report.returncode == 0, wrecked.report.output[-5000:]
    assert _cml_calls(wrecked.train.record) == [REPORT_CALL]
    text = (wrecked.train.record / "0" / "report.md").read_text()
    assert "**Quality gate: ❌ fail** (rule `regression`)" in text
    # GitHub's API, as report.yml used it: the artifacts of the train run, the
    # pull request the artifact names (its head checked), the zip.
    gh = [
        json.loads(line)["args"]
        for line in (wrecked.train.gh / "calls.jsonl").read_text().splitlines()
    ]
    repo = actrun.REPOSITORY
    assert gh == [
        ["api", f"repos/{repo}/actions/runs/{actrun.TRAIN_RUN_ID}/artifacts"],
        ["api", f"repos/{repo}/pulls/1"],
        ["api", f"repos/{repo}/actions/artifacts/1/zip"],
    ]


def test_bad_data_is_reported_and_fails_the_job(bad_data: Flow) -> None:
    assert bad_data.train.returncode != 0
    # The failed pipeline does not stop the report: it is uploaded, and posted.
    assert "gate FAILED (rule: validation)" in bad_data.train.output
    assert "Failure - Main Quality gate" in bad_data.train.output
    assert (
        "Success - Main Post the report on the pull request" in bad_data.report.output
    )
    text = (bad_data.train.record / "0" / "report.md").read_text()
    assert "**Quality gate: ❌ fail** (rule `validation`)" in text
    assert "| `expect_column_values_to_be_in_set` | contract | 1 | `'Weekly'` |" in text
    assert "these are the metrics of the last good model" in text
    # A failed pipeline is judged on its validation: main is not reproduced for it.
    assert f"Main {BASE_STEP}" not in bad_data.train.output


def test_forged_metrics_are_recomputed_and_fail_the_gate(forged: Flow) -> None:
    output = forged.train.output
    assert forged.train.returncode != 0
    assert "Committed metrics replaced" in output
    # `dvc repro` ran neither stage: both ran again.
    step = actrun.step_log(output, RECOMPUTE_STEP)
    assert "dvc repro --force --single-item drift evaluate" in step
    for name in FORGED:
        assert name in output.split("Committed metrics replaced", 1)[1][:600]
    assert "gate FAILED (rule: regression)" in output
    # Call 0 is the failed `cml runner launch`; call 1 the comment.
    assert _cml_calls(forged.train.record)[1] == REPORT_CALL
    text = (forged.train.record / "1" / "report.md").read_text()
    assert "**Quality gate: ❌ fail** (rule `regression`)" in text
    # The gate read what the wrecked model gives, not what was committed.
    committed = json.loads((ROOT / "metrics" / "metrics.json").read_text())
    judged = json.loads(
        (forged.train.artifacts / "train" / "metrics" / "metrics.json").read_text()
    )
    assert judged["roc_auc"] < committed["roc_auc"] - 0.01


def test_a_cloud_runner_that_fails_to_launch_falls_back(forged: Flow) -> None:
    output = forged.train.output
    launches = [
        c for c in _cml_calls(forged.train.record) if c[:2] == ["runner", "launch"]
    ]
    assert len(launches) == 1 and "--single" in launches[0]
    assert "No cloud runner" in output
    assert "Success - Main Quality gate" not in output  # train ran, and judged


def test_readme_shows_the_wrecking_settings_this_test_uses() -> None:
    readme = (ROOT / "levels" / "2-cicd-automation" / "README.md").read_text()
    assert f'`PARAM="{" ".join(WRECK)}"`' in readme
