"""The level-1 tutorial, run command by command in a fresh clone after the quick
start's `make repro` (a copy of the suite's shared run).

Every ```bash block of `levels/1-pipeline-automation/README.md` runs in order (the
ones marked `# needs GitHub` are skipped), and every ```text block right after one
must be an excerpt of what that block printed, so the page cannot go stale. The same
run is the end-to-end test of continuous training: a new month reruns the affected
stages and changes the data version, a drifted month is found and a normal one is
not, and pushed months come back byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml

from churn import contract, model_io
from churn.pipeline import evaluate
from conftest import ROOT, VENV, Reproduced, env_for, pipeline_stages

pytestmark = pytest.mark.slow

TUTORIAL = ROOT / "levels" / "1-pipeline-automation" / "README.md"
ALL_STAGES = pipeline_stages()
#: DVC-tracked files whose bytes identify a month's data and model.
TRACKED = [
    "data/batches/all.csv",
    "data/raw/churn.parquet",
    "data/prepared/test.parquet",
    "models/model.skops",
]
#: Files kept whole after every block, small enough to hold in memory.
SNAPSHOT = ["models/model.skops", "data/prepared/test.parquet"]
#: Run before every block: `make` reuses the test run's virtualenv.
PRELUDE = (
    "set -euo pipefail\n"
    'make() { command make VENV="$VENV" -o "$VENV/.installed" "$@"; }\n'
)


@dataclass
class Block:
    """One ```bash block of the tutorial, what it printed and the state after it."""

    section: str
    code: str
    excerpt: str | None
    output: str = ""
    lock: dict = field(default_factory=dict)
    files: dict[str, str | None] = field(default_factory=dict)
    drift: dict | None = None
    drift_rows: list | None = None
    validation: dict | None = None
    #: The model and the test split as the block left them.
    snapshot: dict[str, bytes | None] = field(default_factory=dict)


#: The tour's section on bad data; tests/data/test_bad_batches.py runs its blocks.
BAD_DATA = "## 9. When bad data arrives"
#: What a reader has run before the tour: the quick start of the top-level README.
QUICK_START = "make repro\n"


def without_bad_data(text: str) -> str:
    """The page without its bad-data section, which corrupts the data on purpose and
    has a test of its own."""
    start = text.index(f"\n{BAD_DATA}\n")
    end = text.find("\n## ", start + 1)
    return text[:start] + (text[end:] if end != -1 else "\n")


def blocks(text: str) -> list[Block]:
    """The bash blocks of a Markdown page, each with the text block after it."""
    text = without_bad_data(text)
    found = []
    section = ""
    pattern = re.compile(r"^## ([^\n]+)$|^```(\w*)\n(.*?)^```\n", re.M | re.S)
    matches = list(pattern.finditer(text))
    for i, match in enumerate(matches):
        if match.group(1):
            section = match.group(1).strip()
            continue
        if match.group(2) != "bash" or "# needs GitHub" in match.group(3):
            continue
        after = matches[i + 1] if i + 1 < len(matches) else None
        excerpt = None
        if after and after.group(2) == "text":
            if not text[match.end() : after.start()].strip():
                excerpt = after.group(3)
        found.append(Block(section, match.group(3), excerpt))
    return found


def _md5(path: Path) -> str | None:
    return hashlib.md5(path.read_bytes()).hexdigest() if path.is_file() else None


def _json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _lock_md5(lock: dict, path: str) -> str:
    for stage in lock["stages"].values():
        for out in stage.get("outs", []):
            if out["path"] == path:
                return out["md5"]
    raise KeyError(path)


@pytest.fixture(scope="module")
def tutorial(
    tmp_path_factory: pytest.TempPathFactory, reproduced: Reproduced
) -> tuple[Path, list[Block]]:
    """A clone in which every command of the tutorial has run, in order."""
    # The reader ran the quick start first (`reproduced` is a reader's clone after
    # it): the tour's reset must undo it.
    repo = reproduced.copy(tmp_path_factory.mktemp("tutorial") / "churn")
    env = env_for(repo) | {"VENV": str(VENV), "COLUMNS": "200"}
    steps = blocks(TUTORIAL.read_text())
    for step in steps:
        proc = subprocess.run(
            ["bash", "-c", PRELUDE + step.code],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
        )
        step.output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            pytest.fail(
                f"tutorial block failed ({step.section}):\n{step.code}\n{step.output}"
            )
        step.lock = yaml.safe_load((repo / "dvc.lock").read_text())
        step.files = {name: _md5(repo / name) for name in TRACKED}
        step.drift = _json(repo / "metrics" / "drift.json")
        step.drift_rows = _json(repo / "plots" / "drift.json")
        step.validation = _json(repo / "metrics" / "model_validation.json")
        step.snapshot = {
            name: (repo / name).read_bytes() if (repo / name).is_file() else None
            for name in SNAPSHOT
        }
    return repo, steps


def _step(steps: list[Block], section: str, command: str) -> tuple[int, Block]:
    for i, step in enumerate(steps):
        if step.section.startswith(section) and command in step.code:
            return i, step
    raise AssertionError(f"no block with {command!r} in section {section!r}")


def _ran(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def _printed(line: str, output: list[str]) -> bool:
    """Whether an excerpt line is on one printed line; `...` stands for anything."""
    parts = [re.escape(_squash(part)) for part in line.split("...")]
    pattern = re.compile(".*?".join(parts))
    return any(pattern.search(out) for out in output)


def test_every_excerpt_is_what_its_command_prints(tutorial) -> None:
    _, steps = tutorial
    checked, stale = 0, []
    for step in steps:
        if step.excerpt is None:
            continue
        printed = [_squash(line) for line in step.output.splitlines()]
        missing = [
            line
            for line in step.excerpt.splitlines()
            if line.strip() not in ("", "...") and not _printed(line, printed)
        ]
        checked += len(step.excerpt.splitlines())
        if missing:
            stale.append(
                f"[{step.section}]\n{step.code}-- not printed:\n"
                + "\n".join(missing)
                + f"\n-- printed:\n{step.output}"
            )
    assert not stale, "\n\n".join(stale)
    assert checked > 20


def test_blocks_that_need_github_are_marked_and_skipped() -> None:
    page = TUTORIAL.read_text()
    text = without_bad_data(page)
    assert len(blocks(page)) == text.count("```bash") - text.count("# needs GitHub")


def test_a_new_month_reruns_the_affected_stages_and_changes_the_data(tutorial) -> None:
    _, steps = tutorial
    i, step = _step(steps, "4.", "dvc repro")
    before = steps[i - 1]
    assert _ran(step.output) == ALL_STAGES
    for path in (
        "data/batches/all.csv",
        "data/raw/churn.parquet",
        "models/model.skops",
    ):
        assert _lock_md5(step.lock, path) != _lock_md5(before.lock, path), path
    assert before.drift["month"] + 1 == step.drift["month"] == 5


def test_a_normal_month_shows_no_drift(tutorial) -> None:
    _, steps = tutorial
    _, step = _step(steps, "4.", "dvc repro")
    drift = step.drift
    assert drift["verdict"] == "no drift" and drift["drifted_features"] == []
    assert max(r["psi"] for r in step.drift_rows) < drift["thresholds"]["psi"]
    assert min(r["p_value"] for r in step.drift_rows) >= drift["thresholds"]["p_value"]


def test_a_drifted_month_is_found_with_the_shifted_feature(tutorial) -> None:
    _, steps = tutorial
    _, step = _step(steps, "5.", "dvc repro")
    drift = step.drift
    assert drift["month"] == 6 and drift["verdict"] == "drift"
    assert drift["drifted_features"] == ["monthly_charges"]
    shifted = step.drift_rows[0]
    assert shifted["feature"] == "monthly_charges"
    assert shifted["psi"] > drift["thresholds"]["psi"]
    assert shifted["p_value"] < drift["thresholds"]["p_value"]
    assert "month 6 drifted from the training data in monthly_charges" in step.output


def test_blocking_drift_stops_before_training(tutorial) -> None:
    _, steps = tutorial
    i, step = _step(steps, "5.", "drift.block=true")
    assert "drift.block is true, so the pipeline stops before training" in step.output
    # A changed value is checked first (the params stage), then drift stops the run.
    assert _ran(step.output) == ["params", "drift"]
    assert step.files["models/model.skops"] == steps[i - 1].files["models/model.skops"]


def test_previous_model_is_the_one_the_last_month_built(tutorial, tmp_path) -> None:
    # The compare stage rebuilds the previous model. The model month 5 built,
    # scored on month 6's test rows, must give the "previous" figures compare
    # recorded: at the printed digits, since a rebuild's last bits may differ.
    _, steps = tutorial
    _, month5 = _step(steps, "4.", "dvc repro")
    _, month6 = _step(steps, "5.", "dvc repro")
    assert month6.validation["previous_months"] == 5
    assert month6.validation["previous"] != month6.validation["current"]
    model_file = tmp_path / "month5.skops"
    model_file.write_bytes(month5.snapshot["models/model.skops"])
    test_file = tmp_path / "test.parquet"
    test_file.write_bytes(month6.snapshot["data/prepared/test.parquet"])
    test = pd.read_parquet(test_file)
    proba = model_io.load(model_file).predict_proba(test[contract.feature_names()])
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    scored = evaluate.scores(
        test[contract.TARGET].to_numpy(),
        proba[:, 1],
        threshold=params["evaluate"]["threshold"],
    )
    assert scored == pytest.approx(month6.validation["previous"], abs=1e-6)


def test_experiments_show_both_estimators(tutorial) -> None:
    _, steps = tutorial
    _, step = _step(steps, "3.", "dvc exp show")
    assert "hist_gradient_boosting" in step.output
    assert "logistic_regression" in step.output


def test_an_earlier_month_comes_back_byte_for_byte(tutorial) -> None:
    _, steps = tutorial
    _, month5 = _step(steps, "4.", "dvc repro")
    _, back = _step(steps, "7.", "git checkout -q HEAD~1")
    assert back.files == month5.files
    assert None not in back.files.values()


def test_pull_into_a_fresh_clone_restores_data_and_model(tutorial) -> None:
    repo, steps = tutorial
    _, pulled = _step(steps, "7.", "dvc pull")
    assert "Data and pipelines are up to date." in pulled.output
    copy = repo.parent / "churn-copy"
    for name in TRACKED:
        assert _md5(copy / name) == _md5(repo / name) is not None, name
    assert _ran(pulled.output) == []


def test_model_card_names_months_data_version_and_commit(tutorial) -> None:
    repo, _ = tutorial
    card = json.loads((repo / "reports" / "model_card.json").read_text())
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    assert card["data"]["months"] == [1, 2, 3, 4, 5, 6]
    assert card["data"]["batches_md5"] == _lock_md5(lock, "data/batches/all.csv")
    assert card["model"]["md5"] == _lock_md5(lock, "models/model.skops")
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True
    )
    assert card["git"]["commit"] == head.stdout.strip()
    assert (repo / "reports" / "model_card.md").read_text().startswith("# Model card")


def test_the_tour_starts_from_the_state_the_quick_start_leaves(tutorial) -> None:
    # The quick start's `make repro` ran before the tour; after the tour's reset,
    # the first run reruns the pipeline from validation on, as the tour shows.
    _, steps = tutorial
    (reset,) = [s for s in steps if s.code.startswith("git clean")]
    assert steps.index(reset) < steps.index(_step(steps, "2.", "make repro")[1])
    _, first = _step(steps, "2.", "make repro")
    assert {"params", "validate", "ingest", "train"} <= set(_ran(first.output))
    assert QUICK_START.strip() in (ROOT / "README.md").read_text()


def test_section_7_brings_the_reader_back(tutorial) -> None:
    _, steps = tutorial
    _, pulled = _step(steps, "7.", "dvc pull")
    assert pulled.code.strip().splitlines()[-1] == "cd -"
    assert "/churn\n" in pulled.output  # `cd -` prints the folder it returns to
