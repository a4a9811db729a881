"""`churn monitor` fails closed: what it cannot judge, and a crash, exit 2, never 1.

Exit 1 starts the retrain workflow, so a traceback (Python's exit 1) must never
escape `main`; each case writes the "cannot judge" report and names its reason.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from churn import contract
from churn.delivery import columns, judge, logwindow, monitor, predlog, reference
from churn.delivery.samples import request_rows
from delivery_helpers import bundled, run_monitor, write_log

BIG = columns.INT64_MAX


def _judged(
    tmp_path: Path, log_dir: Path, package: Path, *extra: str
) -> tuple[int, dict]:
    """`churn monitor` on the log in `log_dir` with the package `package`."""
    return run_monitor(
        tmp_path, "--log-dir", str(log_dir), "--package", str(package), *extra
    )


def _cannot(code: int, result: dict, *words: str) -> None:
    assert (code, result["verdict"]) == (2, judge.CANNOT)
    said = " ".join(result["reasons"])
    for word in words:
        assert word in said, said


def _append(folder: Path, ids: list) -> None:
    """A scored line of `len(ids)` real customers with `ids`, at the log's end."""
    rows = request_rows(bundled().head(len(ids)))
    record = {
        "kind": "scored",
        "ts": predlog.timestamp(time.time()),
        "model": "churn-model",
        "version": "1.0.0",
        "customer_id": ids,
        "features": {f: [r[f] for r in rows] for f in contract.feature_names()},
        "churn_probability": [0.5] * len(ids),
    }
    last = predlog.log_files(folder)[-1]
    with last.open("ab") as fh:
        fh.write(orjson.dumps(record) + b"\n")


def _relabel(source: Path, dest: Path, version: str, *, keep: int = 0) -> Path:
    """A copy of the log at `source` whose lines after the first `keep` carry
    `version`, as if another model had scored them."""
    dest.mkdir()
    number = 0
    for path in predlog.log_files(source):
        lines = path.read_bytes().splitlines(keepends=True)
        for i, line in enumerate(lines):
            number += 1
            if number > keep:
                record = orjson.loads(line)
                record["version"] = version
                lines[i] = orjson.dumps(record) + b"\n"
        (dest / path.name).write_bytes(b"".join(lines))
    return dest


@pytest.fixture(scope="module")
def learnt(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Month 1's customers (the model learnt from them), scored by 1.0.0."""
    return write_log(tmp_path_factory.mktemp("m1") / "log", built, 1)


# --- ids the service wrote are read exactly -----------------------------------


def test_the_largest_id_is_read_exactly_next_to_a_missing_one(tmp_path: Path) -> None:
    rows = request_rows(bundled().head(2))
    plog = predlog.PredictionLog(tmp_path, model="churn-model", version="1.0.0")
    plog.scored([BIG, None], rows, np.array([0.25, 0.5]))
    plog.close()
    window = logwindow.read(tmp_path)
    ids = window.scored[contract.ID]
    assert str(ids.dtype) == "Int64" and window.bad_customers == 0
    assert ids.isna().tolist() == [False, True] and int(ids.iloc[0]) == BIG


def test_ids_the_contract_does_not_allow_are_skipped_and_counted(
    tmp_path: Path,
) -> None:
    plog = predlog.PredictionLog(tmp_path, model="churn-model", version="1.0.0")
    plog.scored([7], request_rows(bundled().head(1)), np.array([0.5]))
    plog.close()
    _append(tmp_path, [12.0, 12.5, 0, -3, "8", True, BIG + 1, 2**64 - 1])
    window = logwindow.read(tmp_path)
    # 12.0 is a whole number, as the request model counts it; the rest are not ids.
    assert window.scored[contract.ID].tolist() == [7, 12]
    assert window.bad_customers == 7 and window.skipped_lines == 0


def test_a_service_log_with_the_largest_id_is_judged(
    built: Path, learnt: Path, tmp_path: Path
) -> None:
    log_dir = Path(shutil.copytree(learnt, tmp_path / "log"))
    _append(log_dir, [BIG, None])
    code, result = _judged(tmp_path, log_dir, built)
    assert (code, result["verdict"]) == (0, judge.HEALTHY)
    assert result["log"]["bad_customers"] == 0


# --- labels with an id that is not a whole number ---------------------------


def test_labels_keep_large_ids_exactly(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(f"customer_id,churn\n{BIG},Yes\n12.0,No\n3,1\n")
    labels = judge.read_labels(path)
    assert labels[contract.ID].tolist() == [BIG, 12, 3]
    assert labels["label"].tolist() == [1, 0, 1]


@pytest.mark.parametrize("bad", ["12.5", "0", "-4", "abc", str(BIG + 1), "nan", ""])
def test_labels_with_an_id_that_is_not_a_customer_id_are_refused(
    tmp_path: Path, bad: str
) -> None:
    path = tmp_path / "labels.csv"
    path.write_text(f"customer_id,churn\n1,Yes\n{bad},No\n")
    with pytest.raises(judge.CannotJudge) as caught:
        judge.read_labels(path)
    message = str(caught.value)
    assert str(path) in message and "line 3" in message
    assert "customer_id" in message and "whole number" in message
    assert repr(bad) in message and "\n" not in message


def test_a_fractional_label_id_is_cannot_judge(
    built: Path, learnt: Path, tmp_path: Path
) -> None:
    labels = tmp_path / "labels.csv"
    labels.write_text("customer_id,churn\n1,Yes\n12.5,No\n")
    code, result = run_monitor(
        tmp_path,
        "--log-dir",
        str(learnt),
        "--package",
        str(built),
        "--labels",
        str(labels),
    )
    _cannot(code, result, "labels.csv", "line 3", "'12.5'")


# --- --min-rows and --last -------------------------------------------------------


@pytest.mark.parametrize("option", ["--min-rows", "--last"])
@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_counts_below_1_are_refused_by_argparse(
    learnt: Path, tmp_path: Path, option: str, value: str, capsys: pytest.CaptureFixture
) -> None:
    # --last -1 would be pandas' tail(-1): every customer but the first.
    argv = ["--log-dir", str(learnt), "--since", "2999-01-01", option, value]
    with pytest.raises(SystemExit) as caught:
        monitor.main([*argv, "--out", str(tmp_path / "out")])
    assert caught.value.code == 2
    assert option in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --- a reference profile that lacks what the monitor reads -------------------


def _profile() -> dict:
    scores = pd.Series(np.linspace(0, 1, 50))
    return {
        "format": reference.FORMAT,
        "features": {name: {} for name in contract.feature_names()},
        "score": {"kind": "number", "mean": 0.5, "edges": [0.5], "counts": [25, 25]}
        | {"values": scores.tolist(), "weights": [1] * 50},
        "performance": {"value": 0.8, "low": 0.75, "high": 0.85, "resamples": 1000},
        "thresholds": {"psi": 0.2, "p_value": 0.001, "bins": 10},
    }


def test_a_complete_profile_passes_the_check() -> None:
    assert reference.check(_profile())["thresholds"]["psi"] == 0.2


@pytest.mark.parametrize(
    "part, key, value, words",
    [
        ("thresholds", "p_value", None, ["thresholds", "'p_value'", "lacks"]),
        ("thresholds", "psi", "0.2", ["thresholds", "'psi'", "'0.2'"]),
        ("thresholds", "psi", math.nan, ["thresholds", "'psi'", "nan"]),
        ("thresholds", "p_value", True, ["thresholds", "'p_value'", "True"]),
        ("performance", "resamples", None, ["performance", "'resamples'", "lacks"]),
        ("performance", "resamples", 2.5, ["performance", "'resamples'", "2.5"]),
        ("performance", "low", math.inf, ["performance", "'low'", "inf"]),
        ("score", "edges", "x", ["score", "'edges'", "'x'"]),
        ("score", "mean", None, ["score", "'mean'", "lacks"]),
    ],
)
def test_a_profile_lacking_what_the_monitor_reads_is_refused(
    part: str, key: str, value: object, words: list[str]
) -> None:
    document = _profile()
    if value is None:
        del document[part][key]
    else:
        document[part][key] = value
    with pytest.raises(ValueError) as caught:
        reference.check(document)
    for word in [reference.FILE, *words]:
        assert word in str(caught.value), str(caught.value)


@pytest.mark.parametrize("part", ["thresholds", "performance", "score"])
def test_a_profile_part_that_is_not_an_object_is_refused(part: str) -> None:
    document = _profile() | {part: [1, 2]}
    with pytest.raises(ValueError, match=f"{part}.*not an object"):
        reference.check(document)


def test_a_package_whose_thresholds_lack_keys_is_cannot_judge(
    built: Path, learnt: Path, tmp_path: Path
) -> None:
    pkg = Path(shutil.copytree(built, tmp_path / "pkg"))
    profile = json.loads((pkg / reference.FILE).read_text())
    profile["thresholds"] = {"psi": 0.2}
    (pkg / reference.FILE).write_text(json.dumps(profile))
    code, result = _judged(tmp_path, learnt, pkg)
    _cannot(code, result, reference.FILE, "thresholds", "'p_value'")


# --- anything unexpected is cannot judge, never a verdict --------------------


@pytest.mark.parametrize(
    "target, error",
    [
        ("churn.delivery.logwindow.read", RuntimeError),
        ("churn.delivery.judge.judge", RuntimeError),
        ("churn.delivery.judge.realised", KeyError),
        ("churn.pipeline.profile.compare", ValueError),
    ],
)
def test_an_unexpected_error_is_cannot_judge_with_a_report(
    built: Path,
    learnt: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    target: str,
    error: type[Exception],
) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise error("boom")

    monkeypatch.setattr(target, boom)
    labels = tmp_path / "labels.csv"
    labels.write_text("customer_id,churn\n1,Yes\n")
    args = ["--log-dir", str(learnt), "--package", str(built), "--labels", str(labels)]
    with caplog.at_level(logging.INFO):
        code, result = run_monitor(tmp_path, *args)
    # A ValueError is one of the refusals `run` expects; anything else is named.
    _cannot(code, result, "boom", "" if error is ValueError else error.__name__)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "boom" in errors[0].getMessage()
    assert "\n" not in errors[0].getMessage() and errors[0].exc_info is None


def test_a_report_that_cannot_be_rendered_is_cannot_judge(
    built: Path, learnt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from churn.review import plots

    def boom(spec: dict) -> bytes:
        raise RuntimeError("no renderer")

    monkeypatch.setattr(plots, "render_png", boom)
    code, result = _judged(tmp_path, learnt, built)
    _cannot(code, result, "RuntimeError", "no renderer")


# --- none of the window was scored by the judged package's version ------------


def test_a_log_of_another_model_version_is_cannot_judge(
    built: Path, learnt: Path, tmp_path: Path
) -> None:
    other = _relabel(learnt, tmp_path / "log", "1.4.0")
    code, result = _judged(tmp_path, other, built)
    rows = result["model"]["served"]["1.4.0"]
    _cannot(code, result, "model 1.0.0", f"1.4.0 ({rows})", "--package")
    assert "1.0.0 (" not in " ".join(result["reasons"])


def test_too_few_customers_of_the_judged_version_is_cannot_judge(
    built: Path, learnt: Path, tmp_path: Path
) -> None:
    # 100 customers to a line: the first line's 100 stay 1.0.0, fewer than 200.
    mixed = _relabel(learnt, tmp_path / "log", "1.4.0", keep=1)
    code, result = _judged(tmp_path, mixed, built)
    served = result["model"]["served"]
    assert served["1.0.0"] == 100
    _cannot(code, result, "only 100 ", "1.0.0 (100)", f"1.4.0 ({served['1.4.0']})")
    # With the bar at 100 the same window is judged: the traffic is month 1's.
    code, result = _judged(tmp_path, mixed, built, "--min-rows", "100")
    assert (code, result["verdict"]) == (0, judge.HEALTHY)


def test_only_the_judged_versions_scores_meet_the_labels(
    built: Path, learnt: Path, tmp_path: Path
) -> None:
    # 300 customers scored by the package's 1.0.0, the rest by 1.4.0, and labels
    # known for 1.4.0's customers only: nothing of 1.0.0's can be checked.
    mixed = _relabel(learnt, tmp_path / "log", "1.4.0", keep=3)
    scored = logwindow.read(mixed).scored
    theirs = scored.loc[scored[logwindow.VERSION] == "1.4.0", contract.ID]
    churn = bundled().set_index(contract.ID)[contract.TARGET]
    labels = tmp_path / "labels.csv"
    pd.DataFrame(
        {contract.ID: theirs, contract.TARGET: churn.loc[theirs].to_numpy()}
    ).to_csv(labels, index=False)
    code, result = _judged(tmp_path, mixed, built, "--labels", str(labels))
    assert result["model"]["served"]["1.0.0"] == 300
    _cannot(code, result, "0 served customer(s) have a label")


def test_a_params_file_it_cannot_read_is_cannot_judge_not_a_fault(
    built: Path, learnt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bootstrap's seed comes from params.yaml: a broken one names the file.
    broken = tmp_path / "params.yaml"
    broken.write_text("seed: [\n")
    load = monitor.config.load_params
    monkeypatch.setattr(monitor.config, "load_params", lambda: load(broken))
    code, result = _judged(tmp_path, learnt, built)
    _cannot(code, result, "params.yaml: cannot read it")
    assert "fault of churn monitor" not in " ".join(result["reasons"])
