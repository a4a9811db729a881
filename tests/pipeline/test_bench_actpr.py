"""The neutral pull request under act in the benchmark: each step's time read from
act's log (and no figure from a log that lacks one), and the RESULTS.md section and
target row they give. act itself is not run here: the logs are recorded ones."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from conftest import ROOT

# The benchmark's scripts import their siblings as top-level modules.
sys.path.insert(0, str(ROOT / "benchmarks"))

import actpr  # noqa: E402
import actrun  # noqa: E402
import report  # noqa: E402
import targets  # noqa: E402

WORKFLOW = """\
jobs:
  train:
    steps:
      - uses: actions/checkout@abc
      - name: Install into .venv
        run: make install
      - name: Pull data
        if: vars.DVC_REMOTE == 'true'
        run: make pull
      - name: Reproduce the pipeline
        continue-on-error: true
        run: make repro
      - name: Quality gate
        run: make gate BASE="$BASE"
"""

#: Trimmed from a real run: act pads the job's name, a composite action's inner
#: step ends without a duration, and Pre/Post steps are act's bookkeeping.
LOG = """\
[train/train        ] \u2b50 Run Set up job
[train/train        ]   \u2705  Success - Set up job
[train/train        ]   \u2705  Success - Pre actions/checkout@abc [1.386543ms]
[train/train        ] \u2b50 Run Main actions/checkout@abc
[train/train        ] \u2b50 Run Main git rev-parse --verify HEAD
[train/train        ]   \u2705  Success - Main git rev-parse --verify HEAD
[train/train        ]   \u2705  Success - Main actions/checkout@abc [273.555974ms]
[train/train        ] \u2b50 Run Main Install into .venv
[train/train        ]   | Collecting pip==26.3 (from -r requirements/pip.txt (line 9))
[train/train        ]   |   Downloading pip-26.3-py3-none-any.whl (2.0 MB)
[train/train        ]   | Processing /work/wheels/six-1.17.0-py2.py3-none-any.whl
[train/train        ]   | Processing /work/wheels/idna-3.20-py3-none-any.whl
[train/train        ]   |   Using cached antlr4_python3_runtime-4.9.3-py3-none-any.whl
[train/train        ]   | Successfully installed churn-0.1.0
[train/train        ]   \u2705  Success - Main Install into .venv [1m31.447068832s]
[train/train        ] \u2b50 Run Main Reproduce the pipeline
[train/train        ]   \u2705  Success - Main Reproduce the pipeline [23.616409594s]
[train/train        ] \u2b50 Run Main Quality gate
[train/train        ]   \u2705  Success - Main Quality gate [576.202373ms]
[train/train        ]   \u2705  Success - Post actions/checkout@abc [591.264\u00b5s]
[train/train        ] \u2b50 Run Complete job
[train/train        ]   \u2705  Success - Complete job
[train/train        ] \U0001f3c1  Job succeeded
"""


@pytest.fixture
def steps(tmp_path: Path) -> list[dict]:
    workflow = tmp_path / "train.yml"
    workflow.write_text(WORKFLOW)
    return actpr.job_steps(workflow)


def test_steps_are_named_as_act_logs_them(steps: list[dict]) -> None:
    assert [(s["name"], s["make"], s["unconditional"]) for s in steps] == [
        ("actions/checkout@abc", None, True),
        ("Install into .venv", "install", True),
        ("Pull data", "pull", False),
        ("Reproduce the pipeline", "repro", True),
        ("Quality gate", "gate", True),
    ]


def test_the_train_workflow_runs_each_measured_target_unconditionally() -> None:
    made = {
        s["make"]: s["unconditional"] for s in actpr.job_steps(ROOT / actpr.WORKFLOW)
    }
    assert {name: made.get(name) for name in actpr.BEFORE} == dict.fromkeys(
        actpr.BEFORE, True
    )


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("1m31.447068832s", 91.447068832),
        ("576.202373ms", 0.576202373),
        ("591.264\u00b5s", 0.000591264),
        ("1h2m3s", 3723.0),
        ("0s", 0.0),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert actpr.go_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "12", "1.5 s", "3sx", "m5s"])
def test_what_is_not_a_go_duration_is_an_error(text: str) -> None:
    with pytest.raises(actpr.ActLogError, match="not a duration"):
        actpr.go_seconds(text)


def test_each_main_step_gets_its_time(steps: list[dict]) -> None:
    times = actpr.step_times(LOG, steps, "train")
    assert list(times) == [
        "actions/checkout@abc",
        "Install into .venv",
        "Reproduce the pipeline",
        "Quality gate",
    ]
    assert times["Install into .venv"] == pytest.approx(91.447068832)
    assert times["Quality gate"] == pytest.approx(0.576202373)
    # Another job's lines are not this one's.
    assert actpr.step_times(LOG.replace("train/train", "w/other"), [], "other")


def test_a_failed_step_gives_no_figure(steps: list[dict]) -> None:
    # Even one the workflow lets the job go on after (continue-on-error).
    failed = LOG.replace(
        "\u2705  Success - Main Reproduce the pipeline",
        "\u274c  Failure - Main Reproduce the pipeline",
    )
    with pytest.raises(actpr.ActLogError, match="'Reproduce the pipeline' of train"):
        actpr.step_times(failed, steps, "train")


def test_a_step_missing_from_the_log_gives_no_figure(steps: list[dict]) -> None:
    lines = [line for line in LOG.splitlines() if "Quality gate" not in line]
    with pytest.raises(actpr.ActLogError, match=r"\['Quality gate'\] of train"):
        actpr.step_times("\n".join(lines), steps, "train")
    # A skipped step (one with `if:`) is no gap.
    assert "Pull data" not in actpr.step_times(LOG, steps, "train")


def test_a_job_that_did_not_succeed_gives_no_figure(steps: list[dict]) -> None:
    unfinished = LOG.replace("Job succeeded", "Job failed")
    with pytest.raises(actpr.ActLogError, match="succeeded"):
        actpr.step_times(unfinished, steps, "train")


def test_a_failed_act_run_stops_the_measurement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def act(code: int, output: str):
        def run(repo: Path, **kwargs) -> actrun.ActRun:
            # The job's own virtualenv, not the one act's stand-ins borrow.
            assert kwargs["env"] == job_env and kwargs["venv"] == tmp_path
            return actrun.ActRun(code, output, tmp_path, tmp_path)

        return run

    repo = tmp_path / "repo"
    (repo / actpr.WORKFLOW).parent.mkdir(parents=True)
    (repo / actpr.WORKFLOW).write_text(WORKFLOW)
    job_env = {"VENV": str(tmp_path / "job-venv"), "PIP_CACHE_DIR": "cache"}
    kwargs = {"venv": tmp_path, "work": tmp_path, "job_env": job_env}
    monkeypatch.setattr(actrun, "run_act", act(0, LOG))
    done = actpr.timed_run(repo, **kwargs)
    assert [(s["step"], s["make"]) for s in done["steps"]][1:] == [
        ("Install into .venv", "install"),
        ("Reproduce the pipeline", "repro"),
        ("Quality gate", "gate"),
    ]
    assert done["wall_s"] >= 0
    assert done["pip"] == {"downloaded": 1, "local": 2, "cached": 1}
    assert done["venv_restored"] is False
    install = "[train/train        ] \u2b50 Run Main Install into .venv\n"
    hit = "[train/train        ]   | cache restored from /w/act-cache/venv-Linux-0a1b"
    restored = LOG.replace(install, f"{hit} (exact key: true)\n{install}")
    monkeypatch.setattr(actrun, "run_act", act(0, restored))
    assert actpr.timed_run(repo, **kwargs)["venv_restored"] is True
    # Under forced colour act prints a step's output lines without the job's name.
    bare = restored.replace("[train/train        ]   | ", "| ")
    monkeypatch.setattr(actrun, "run_act", act(0, bare))
    done = actpr.timed_run(repo, **kwargs)
    assert done["venv_restored"] is True
    assert done["pip"] == {"downloaded": 1, "local": 2, "cached": 1}
    # A restore from a fallback key is no hit.
    fallback = restored.replace("exact key: true", "exact key: false")
    monkeypatch.setattr(actrun, "run_act", act(0, fallback))
    assert actpr.timed_run(repo, **kwargs)["venv_restored"] is False
    monkeypatch.setattr(actrun, "run_act", act(1, LOG + "Error: Job 'train' failed"))
    with pytest.raises(
        actpr.ActLogError, match="(?s)act exited 1:\n.*Job 'train' failed"
    ):
        actpr.timed_run(repo, **kwargs)


@pytest.mark.parametrize(
    ("restored", "error"),
    [
        ((False, True), None),
        ((False, False), "in the second False"),
        ((True, True), "restored in the first run True"),
    ],
)
def test_the_first_run_caches_the_virtualenv_and_the_second_restores_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    restored: tuple[bool, bool],
    error: str | None,
) -> None:
    runs: list[dict] = []

    def timed_run(repo: Path, *, venv: Path, work: Path, job_env: dict) -> dict:
        # Every run starts without a virtualenv, as on a fresh runner, at one place.
        assert not Path(job_env["VENV"]).exists()
        Path(job_env["VENV"]).mkdir()
        runs.append(dict(job_env))
        return {
            "wall_s": 10.0 * len(runs),
            "pip": {"downloaded": 0, "local": 0, "cached": 0},
            "venv_restored": restored[len(runs) - 1],
            "steps": [],
        }

    monkeypatch.setattr(actpr, "neutral_clone", lambda dest, source: dest)
    monkeypatch.setattr(actpr, "fill_wheelhouse", lambda *args: None)
    monkeypatch.setattr(actpr, "timed_run", timed_run)
    (tmp_path / "act-cache" / "stale").mkdir(parents=True)
    if error:
        with pytest.raises(actpr.ActLogError, match=error):
            actpr.run_actpr(tmp_path, tmp_path / "venv")
        return
    done = actpr.run_actpr(tmp_path, tmp_path / "venv")
    assert (done["wall_s"], done["warm_up_s"]) == (20.0, 10.0)
    assert runs[0] == runs[1] and runs[0]["VENV"] == str(tmp_path / "job-venv")
    assert runs[0]["ACT_CACHE_DIR"] == str(tmp_path / "act-cache")
    # What an earlier benchmark left in the cache is gone: the first run misses.
    assert not (tmp_path / "act-cache" / "stale").exists()


def test_pip_is_warm_with_its_cache_and_the_lock_on_disk(tmp_path: Path) -> None:
    assert actpr.pip_env(tmp_path / "cache", tmp_path / "wheels") == {
        "PIP_CACHE_DIR": str(tmp_path / "cache"),
        "PIP_FIND_LINKS": str(tmp_path / "wheels"),
        "PIP_NO_INDEX": "1",
    }


def test_a_lock_pip_cannot_fetch_stops_the_measurement(tmp_path: Path) -> None:
    (tmp_path / "requirements").mkdir()
    for lock in actpr.LOCKS:
        # pip refuses a line that is no requirement before it asks any index.
        (tmp_path / lock).write_text("six is not a pin\n")
    with pytest.raises(actpr.ActLogError, match="pip download of the lock failed"):
        actpr.fill_wheelhouse(tmp_path, tmp_path / "wheels", Path(sys.executable))


def test_the_command_says_why_there_is_no_figure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(work: Path, venv: Path) -> dict:
        raise actpr.ActLogError("act exited 1")

    monkeypatch.setattr(actpr, "run_actpr", fail)
    assert actpr.main(["--work", "unused"]) == 1
    assert "no figure: act exited 1" in caplog.text


def _results(wall_s: float) -> dict:
    return {
        "actpr": {
            "wall_s": wall_s,
            "warm_up_s": 120.0,
            "pip": {"downloaded": 0, "local": 174, "cached": 1},
            "ratio_to_before": wall_s / actpr.BEFORE_TOTAL_S,
            "steps": [
                {"step": "actions/checkout@abc", "make": None, "wall_s": 0.3},
                {"step": "Install into .venv", "make": "install", "wall_s": 40.0},
                {"step": "Quality gate", "make": "gate", "wall_s": 0.6},
            ],
            "before": {"steps": actpr.BEFORE, "wall_s": actpr.BEFORE_TOTAL_S},
        }
    }


def test_results_show_the_run_per_step_beside_the_run_before() -> None:
    head, rows = report.actpr_rows(_results(50.0))
    assert head == ["step", "seconds", "the 132.0 s run before (s)"]
    assert rows == [
        ["actions/checkout@abc", "0.3", "-"],
        ["Install into .venv", "40.0", "73.0"],
        ["Quality gate", "0.6", "4.0"],
        [
            "act itself: setting up and cleaning up the job, between steps",
            "9.1",
            "13.0",
        ],
        ["total", "50.0", "132.0"],
        [
            "the same run just before, which builds the virtualenv and caches it",
            "120.0",
            "",
        ],
        ["make install's files: 0 downloaded, 174 on disk, 1 from pip's cache", "", ""],
    ]
    assert report.actpr_rows({})[1] == []


def _act_target(results: dict) -> dict:
    (row,) = [
        t for t in targets.targets(results) if t["target"].startswith("act run of")
    ]
    return row


@pytest.fixture
def measured() -> dict:
    """The least of the other sections that `targets` reads."""
    size = {"size": "bundled", "rows": 7043, "peak_rss_mb": 900.0, "stages": {}}
    return {
        "cold": {"wall_s": 20.0},
        "noop": {"ratio_to_cold": 0.05, "cpu_ratio_to_cold": 0.05},
        "incremental": {"ratio_to_cold": 0.4, "cpu_ratio_to_cold": 0.4},
        "floor": {"wall_s": 2.0},
        "scale": [size],
        "prediction": {},
    }


def test_the_act_target_is_met_up_to_sixty_percent(measured: dict) -> None:
    met = _act_target({**measured, **_results(79.2)})
    assert met["target"] == (
        "act run of a neutral PR (virtualenv from the cache) <= 60% of 132 s"
    )
    assert met["met"] and met["value"] == "79.2 s (60%; limit 79.2 s)"
    missed = _act_target({**measured, **_results(79.3)})
    assert not missed["met"] and missed["value"].startswith("79.3 s")
    rendered = report.targets_rows({"targets": [missed]})[1]
    assert rendered[0][-1] == "MISSED"
    # Fast enough, but with files pip had to fetch: not a warm cache.
    cold = _results(60.0)
    cold["actpr"]["pip"]["downloaded"] = 103
    fetched = _act_target({**measured, **cold})
    assert not fetched["met"]
    assert fetched["value"].endswith("; not warm: pip downloaded 103 files")
    assert not [t for t in targets.targets(measured) if "act run" in t["target"]]
