"""`churn gate` on a small git repository: every way the evidence can be missing,
broken or forged is exit 2 ("cannot judge"), never a pass; the settings are the
base's; the verdict `churn report` writes is taken only for the evidence it judged.

`main` holds params, metrics and predictions of 400 customers; the workspace is the
pull request, with `metrics/validation.json` beside it as DVC would leave it.
"""

import hashlib
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from churn import stats
from churn.review import evidence, gate

N = 400
PARAMS = {
    "seed": 42,
    "evaluate": {"threshold": 0.5},
    "gate": {"metric": "roc_auc", "tolerance": 0.005, "floor": 0.6, "resamples": 200},
}
VALID = {"success": True, "rows": N, "expectations": 68, "failed": 0}


def _sh(repo: Path, *cmd: str) -> None:
    subprocess.run(cmd, cwd=repo, check=True, capture_output=True)


def _predictions(noise: float) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, N)
    score = 1 / (1 + np.exp(-(2 * y - 1) - rng.normal(0, noise, N)))
    ids = np.arange(1, N + 1)
    return pd.DataFrame({"customer_id": ids, "label": y, "score": np.round(score, 6)})


def _write(repo: Path, preds: pd.DataFrame, **metrics) -> None:
    """predictions.csv and the metrics.json they give (with `metrics` overriding)."""
    values = stats.metric_values(preds["label"], preds["score"], threshold=0.5)
    honest = {k: round(v, 6) for k, v in values.items()}
    (repo / "metrics").mkdir(exist_ok=True)
    preds.to_csv(repo / "metrics" / "predictions.csv", index=False)
    (repo / "metrics" / "metrics.json").write_text(json.dumps({**honest, **metrics}))


def _params(repo: Path, **gate_settings) -> None:
    params = {**PARAMS, "gate": {**PARAMS["gate"], **gate_settings}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params))


def _validation(repo: Path, content) -> None:
    (repo / "metrics" / "validation.json").write_text(json.dumps(content))


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()
    _sh(path, "git", "init", "-q", "-b", "main")
    _sh(path, "git", "config", "user.email", "test@example.com")
    _sh(path, "git", "config", "user.name", "test")
    (path / "dvc.yaml").write_text("stages: {}\n")
    (path / ".gitignore").write_text("/metrics/validation.json\n/report*\n")
    _params(path)
    _write(path, _predictions(noise=1.0))
    _sh(path, "git", "add", "-A")
    _sh(path, "git", "commit", "-qm", "main")
    _validation(path, VALID)
    return path


def _commit(repo: Path, message: str) -> None:
    _sh(repo, "git", "add", "-A")
    _sh(repo, "git", "commit", "-qm", message)


def _gate(repo: Path, caplog, *args: str) -> tuple[int, str]:
    """`churn gate ARGS` (against `main` unless ARGS name a base): exit code, log."""
    caplog.clear()
    caplog.set_level(logging.INFO)
    named = any(a.startswith("--base") for a in args)
    code = gate.main([*args] if named else ["--base", "main", *args], root=repo)
    return code, caplog.text


def _break_metric(repo: Path, text: str) -> None:
    """Make `roc_auc` in the workspace's metrics.json the JSON text `text`."""
    path = repo / "metrics" / "metrics.json"
    metrics = {**json.loads(path.read_text()), "roc_auc": "@"}
    path.write_text(json.dumps(metrics).replace('"@"', text))


def test_an_unchanged_model_passes_and_a_worse_one_fails(repo: Path, caplog) -> None:
    assert _gate(repo, caplog)[0] == 0
    _write(repo, _predictions(noise=3.0))
    code, log = _gate(repo, caplog)
    assert code == 1 and "gate FAILED (rule: regression)" in log


@pytest.mark.parametrize("base", ["orgin/main", "", "-x", "main;touch INJECTED"])
def test_a_base_that_does_not_exist_cannot_judge(repo: Path, caplog, base) -> None:
    code, log = _gate(repo, caplog, f"--base={base}")
    assert code == 2
    assert f"base revision {base!r} not found" in log
    assert not (repo / "INJECTED").exists()


@pytest.mark.parametrize("name", ["metrics.json", "predictions.csv"])
def test_a_base_without_metrics_or_predictions_cannot_judge(
    repo: Path, caplog, name
) -> None:
    _sh(repo, "git", "rm", "-q", f"metrics/{name}")
    _sh(repo, "git", "commit", "-qm", f"main without {name}")
    _write(repo, _predictions(noise=3.0))  # worse: it must not slip through
    code, log = _gate(repo, caplog)
    assert code == 2 and f"main has no metrics/{name} to compare with" in log


def test_deleted_predictions_cannot_judge(repo: Path, caplog) -> None:
    _write(repo, _predictions(noise=3.0))
    (repo / "metrics" / "predictions.csv").unlink()
    code, log = _gate(repo, caplog)
    assert code == 2 and "this PR has no metrics/predictions.csv" in log


def test_predictions_of_other_customers_cannot_judge(repo: Path, caplog) -> None:
    preds = _predictions(noise=3.0)
    _write(repo, preds.assign(customer_id=preds["customer_id"] + 10_000))
    code, log = _gate(repo, caplog)
    assert code == 2 and "shares no customer with main's" in log


@pytest.mark.parametrize("flipped", [N, 1])
def test_changed_labels_cannot_judge(repo: Path, caplog, flipped: int) -> None:
    preds = _predictions(noise=3.0)
    preds.loc[: flipped - 1, "label"] = 1 - preds.loc[: flipped - 1, "label"]
    _write(repo, preds)
    code, log = _gate(repo, caplog)
    assert code == 2
    assert f"gives {flipped} of the {N} shared customers another label" in log


def test_too_few_shared_rows_cannot_judge(repo: Path, caplog) -> None:
    _write(repo, _predictions(noise=3.0).head(15))
    code, log = _gate(repo, caplog)
    assert code == 2 and "shares only 15 customers with main's" in log
    assert "at least 200 are needed" in log


def test_half_of_the_base_is_enough(repo: Path, caplog) -> None:
    _write(repo, _predictions(noise=1.0).head(N // 2))
    assert _gate(repo, caplog)[0] == 0


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("NaN", "not a finite number"),
        ("Infinity", "not a finite number"),
        ("7", "outside [0, 1]"),
        ('"high"', "not a number"),
    ],
)
@pytest.mark.parametrize("side", ["PR", "base"])
def test_a_metric_that_is_no_plain_number_cannot_judge(
    repo: Path, caplog, text: str, words: str, side: str
) -> None:
    if side == "base":
        _break_metric(repo, text)
        _commit(repo, "main with a broken metric")
        _write(repo, _predictions(noise=3.0))
    else:
        _write(repo, _predictions(noise=3.0))
        _break_metric(repo, text)
    code, log = _gate(repo, caplog)
    assert code == 2 and words in log, log


@pytest.mark.parametrize("content", [None, {"success": "no"}, {"rows": 3}])
def test_validation_that_did_not_say_true_cannot_judge(
    repo: Path, caplog, content
) -> None:
    if content is None:
        (repo / "metrics" / "validation.json").unlink()
    else:
        _validation(repo, content)
    code, log = _gate(repo, caplog)
    assert code == 2 and "metrics/validation.json" in log


def test_failed_validation_fails_the_validation_rule(repo: Path, caplog) -> None:
    _validation(repo, {**VALID, "success": False, "failed": 2})
    code, log = _gate(repo, caplog)
    assert code == 1 and "gate FAILED (rule: validation)" in log


def test_a_pr_cannot_loosen_its_own_gate(repo: Path, caplog) -> None:
    _params(repo, tolerance=1.0, floor=0.0)
    _write(repo, _predictions(noise=3.0))
    code, log = _gate(repo, caplog)
    assert code == 1 and "gate FAILED (rule: regression)" in log
    assert "(tolerance 0.0050)" in log
    assert "this PR changes its own gate: main's settings apply" in log


def test_a_base_without_gate_settings_cannot_judge(repo: Path, caplog) -> None:
    params = {k: v for k, v in PARAMS.items() if k != "gate"}
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    _commit(repo, "main without a gate")
    _params(repo)  # the PR brings one: it does not count
    code, log = _gate(repo, caplog)
    assert code == 2 and "main:params.yaml has no `gate:` section" in log


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("- not a map\n", "this checkout's params.yaml is a list, not a mapping"),
        ("evaluate: [0.5]\n", "evaluate must be a mapping, got [0.5]"),
    ],
)
def test_a_params_file_of_the_wrong_shape_cannot_judge(
    repo: Path, caplog, text: str, said: str
) -> None:
    (repo / "params.yaml").write_text(text)
    code, log = _gate(repo, caplog)
    assert code == 2 and said in log


def test_an_unexpected_error_is_no_verdict(
    repo: Path, caplog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Exit 1 is "a rule failed", which CI reports as a worse model.
    def crash(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(gate, "judge", crash)
    code, log = _gate(repo, caplog)
    assert code == 2
    assert "gate CANNOT JUDGE (exit 2): unexpected RuntimeError: disk on fire" in log
    assert "Traceback" not in log


def test_a_forged_metrics_file_cannot_judge(repo: Path, caplog) -> None:
    # A worse model whose metrics.json claims a better ROC AUC than main's.
    _write(repo, _predictions(noise=3.0), roc_auc=0.99)
    code, log = _gate(repo, caplog)
    assert code == 2
    assert "metrics/metrics.json says `roc_auc` is 0.99 but" in log
    assert "were not computed from these predictions" in log


def test_the_first_model_needs_the_flag_and_an_empty_base(repo: Path, caplog) -> None:
    _sh(
        repo,
        "git",
        "rm",
        "-q",
        "--cached",
        "metrics/metrics.json",
        "metrics/predictions.csv",
    )
    _sh(repo, "git", "commit", "-qm", "main without a model yet")
    assert _gate(repo, caplog)[0] == 2
    code, log = _gate(repo, caplog, "--first-model")
    assert code == 0 and "gate passed (rule: first model)" in log
    _write(repo, _predictions(noise=50.0))  # below the floor
    assert _gate(repo, caplog, "--first-model")[0] == 1


def test_the_first_model_flag_is_refused_when_the_base_has_one(
    repo: Path, caplog
) -> None:
    code, log = _gate(repo, caplog, "--first-model")
    assert code == 2 and "--first-model, but main already has a model" in log


# --- the verdict file: one pass of evidence, taken only for that evidence ---------


def _write_verdict(repo: Path, first_model: bool = False) -> Path:
    found = evidence.gather("main", root=repo, first_model=first_model)
    path = repo / "report.json"
    gate.write_verdict(path, gate.judge(found, gate.intervals(found)), found)
    return path


def test_the_verdict_file_gives_the_verdict_it_holds(repo: Path, caplog) -> None:
    _write(repo, _predictions(noise=3.0))
    path = _write_verdict(repo)
    assert json.loads(path.read_text())["exit_code"] == 1
    code, log = _gate(repo, caplog, "--verdict", str(path))
    assert code == 1 and "gate FAILED (rule: regression)" in log
    assert "verdict taken from" in log


def test_a_stale_verdict_file_is_refused(repo: Path, caplog) -> None:
    path = _write_verdict(repo)
    assert _gate(repo, caplog, "--verdict", str(path))[0] == 0
    _write(repo, _predictions(noise=3.0))  # the model changed after the report
    code, log = _gate(repo, caplog, "--verdict", str(path))
    assert code == 2 and "metrics/metrics.json" in log and "other evidence" in log
    _write(repo, _predictions(noise=1.0))
    assert _gate(repo, caplog, "--verdict", str(path))[0] == 0
    (repo / "notes.txt").write_text("main moved on\n")
    _commit(repo, "a new commit on main")
    code, log = _gate(repo, caplog, "--verdict", str(path))
    assert code == 2 and "base_commit" in log
    assert _gate(repo, caplog, "--verdict", str(path), "--base", "HEAD~1")[0] == 2


def test_a_forged_verdict_file_is_refused(repo: Path, caplog) -> None:
    _write(repo, _predictions(noise=3.0))
    path = _write_verdict(repo)
    content = json.loads(path.read_text())
    forged = {**content, "verdict": "pass", "rule": "tolerance", "exit_code": 0}
    forged["evidence"] = {**content["evidence"], "base_commit": "0" * 40}
    path.write_text(json.dumps(forged))
    code, log = _gate(repo, caplog, "--verdict", str(path))
    assert code == 2 and "other evidence" in log
    # Not even a verdict for no base at all: a base must exist to be judged against.
    gone = {**content["evidence"], "base": "gone", "base_commit": None}
    path.write_text(json.dumps({**forged, "evidence": gone}))
    code, log = _gate(repo, caplog, "--verdict", str(path), "--base=gone")
    assert code == 2 and "base revision 'gone' not found" in log
    path.write_text("{not json")
    assert _gate(repo, caplog, "--verdict", str(path))[0] == 2
    path.unlink()
    code, log = _gate(repo, caplog, "--verdict", str(path))
    assert code == 2 and "no such file" in log


def test_a_first_model_verdict_does_not_serve_a_gate_without_the_flag(
    repo: Path, caplog
) -> None:
    _sh(
        repo,
        "git",
        "rm",
        "-q",
        "--cached",
        "metrics/metrics.json",
        "metrics/predictions.csv",
    )
    _sh(repo, "git", "commit", "-qm", "main without a model yet")
    path = _write_verdict(repo, first_model=True)
    assert _gate(repo, caplog, "--verdict", str(path), "--first-model")[0] == 0
    code, log = _gate(repo, caplog, "--verdict", str(path))
    assert code == 2 and "first_model" in log


def test_recompute_reruns_evaluate_before_judging(repo: Path, caplog) -> None:
    # A one-stage DVC project whose `evaluate` writes the honest metrics.
    _sh(repo, sys.executable, "-m", "dvc", "init", "-q")
    honest = (repo / "metrics" / "metrics.json").read_text()
    (repo / "honest.json").write_text(honest)
    stage = {
        "cmd": f'{sys.executable} -c "import shutil; '
        "shutil.copy('honest.json', 'metrics/metrics.json')\"",
        "deps": ["honest.json"],
        "outs": [{"metrics/metrics.json": {"cache": False}}],
    }
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"evaluate": stage}}))
    _write(repo, _predictions(noise=1.0), roc_auc=0.99)
    assert _gate(repo, caplog)[0] == 2
    code, log = _gate(repo, caplog, "--recompute")
    assert code == 0, log
    assert (repo / "metrics" / "metrics.json").read_text() == honest


# --- main's predictions in the DVC cache, as `evaluate` keeps them --------------


def _cache_main(repo: Path) -> Path:
    """Make `main` keep its predictions as DVC does since they left git: untracked,
    gitignored, their md5 in dvc.lock, the bytes in the cache. The workspace file
    stays (the PR's). The object's path is returned."""
    data = (repo / "metrics" / "predictions.csv").read_bytes()
    md5 = hashlib.md5(data).hexdigest()
    obj = repo / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]
    obj.parent.mkdir(parents=True)
    obj.write_bytes(data)
    out = {"path": "metrics/predictions.csv", "hash": "md5", "md5": md5}
    lock = {"schema": "2.0", "stages": {"evaluate": {"cmd": "x", "outs": [out]}}}
    (repo / "dvc.lock").write_text(yaml.safe_dump(lock))
    (repo / "metrics" / ".gitignore").write_text("/predictions.csv\n")
    (repo / ".gitignore").write_text(
        (repo / ".gitignore").read_text() + "/.dvc/cache/\n"
    )
    _sh(repo, "git", "rm", "-q", "--cached", "metrics/predictions.csv")
    _commit(repo, "predictions to the DVC cache")
    return obj


def test_main_predictions_from_the_dvc_cache_pair_with_the_prs(
    repo: Path, caplog
) -> None:
    _cache_main(repo)
    assert _gate(repo, caplog)[0] == 0
    _write(repo, _predictions(noise=3.0))
    code, log = _gate(repo, caplog)
    assert code == 1 and "gate FAILED (rule: regression)" in log


def test_main_predictions_missing_from_the_cache_cannot_judge(
    repo: Path, caplog
) -> None:
    _cache_main(repo).unlink()
    code, log = _gate(repo, caplog)
    assert code == 2
    assert "main's predictions cannot be read" in log
    assert "is not in the DVC cache" in log
    assert "make base-cache BASE=main" in log


def test_main_predictions_with_another_md5_cannot_judge(repo: Path, caplog) -> None:
    obj = _cache_main(repo)
    obj.write_bytes(obj.read_bytes().replace(b"0.", b"0.9", 1))
    code, log = _gate(repo, caplog)
    assert code == 2 and "do not have the md5 main records" in log


def test_a_main_lock_without_the_predictions_cannot_judge(repo: Path, caplog) -> None:
    _cache_main(repo)
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    _commit(repo, "a lock that lost the output")
    _write(repo, _predictions(noise=1.0))
    code, log = _gate(repo, caplog)
    assert code == 2
    assert "main has no metrics/predictions.csv to compare with" in log
    assert "dvc.lock" in log


def test_a_first_model_base_whose_lock_records_predictions_is_refused(
    repo: Path, caplog
) -> None:
    _cache_main(repo)
    code, log = _gate(repo, caplog, "--first-model")
    assert code == 2 and "--first-model, but main already has a model" in log
