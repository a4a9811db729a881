"""`churn monitor` in process: its verdicts, and every way it refuses to judge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from churn import contract
from churn.delivery import judge, package, traffic
from delivery_helpers import PARAMS, build_package, run_monitor, write_log


@pytest.fixture(scope="module")
def drifted(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_log(tmp_path_factory.mktemp("m7") / "log", built, 7)


def test_the_shifted_month_exits_1_and_names_what_drifted(
    built: Path, drifted: Path, tmp_path: Path
) -> None:
    code, result = run_monitor(
        tmp_path, "--log-dir", str(drifted), "--package", str(built)
    )
    assert (code, result["verdict"]) == (1, "retrain")
    assert {"contract", "monthly_charges"} <= set(result["drifted_features"])
    assert result["prediction"]["drift"] is True
    assert any("contract (PSI" in reason for reason in result["reasons"])


def test_a_log_in_an_object_store_is_read_through_fsspec(
    built: Path, drifted: Path, tmp_path: Path
) -> None:
    url = drifted.as_uri()  # file://...: the local filesystem of fsspec
    code, result = run_monitor(tmp_path, "--log-dir", url, "--package", str(built))
    assert code == 1 and result["rows"] == len(traffic.month_customers(PARAMS, 7))
    code, result = run_monitor(
        tmp_path, "--log-dir", url + "-missing", "--package", str(built)
    )
    assert code == 2 and "no predictions-" in result["reasons"][0]


def test_a_window_by_count_takes_the_last_customers(
    built: Path, drifted: Path, tmp_path: Path
) -> None:
    code, result = run_monitor(
        tmp_path, "--log-dir", str(drifted), "--package", str(built), "--last", "300"
    )
    assert code == 1 and result["rows"] == 300
    future = "2999-01-01T00:00:00"
    code, result = run_monitor(
        tmp_path, "--log-dir", str(drifted), "--package", str(built), "--since", future
    )
    assert (code, result["rows"]) == (2, 0)


@pytest.mark.parametrize(
    "case, reason",
    [
        ("no folder", "no such folder"),
        ("empty folder", "no predictions-"),
        ("too little traffic", "only 50 scored customer(s)"),
        ("no profile", "has no profile.json"),
        ("labels that match no one", "0 served customer(s) have a label"),
        ("unreadable labels", "cannot read the labels"),
    ],
)
def test_what_it_cannot_judge_exits_2_and_says_why(
    built: Path, drifted: Path, tmp_path: Path, case: str, reason: str
) -> None:
    log_dir, pkg, extra = drifted, built, []
    if case == "no folder":
        log_dir = tmp_path / "nowhere"
    elif case == "empty folder":
        log_dir = tmp_path / "empty"
        log_dir.mkdir()
    elif case == "too little traffic":
        log_dir = write_log(tmp_path / "small", built, 7, rows=50)
    elif case == "no profile":
        pkg = build_package(tmp_path, training=None)
    elif case == "labels that match no one":
        labels = tmp_path / "labels.csv"
        labels.write_text(
            "customer_id,churn\n" + "".join(f"{i},No\n" for i in range(1, 10))
        )
        extra = ["--labels", str(labels)]
    else:
        extra = ["--labels", str(tmp_path / "missing.csv")]
    code, result = run_monitor(
        tmp_path, "--log-dir", str(log_dir), "--package", str(pkg), *extra
    )
    assert (code, result["verdict"]) == (2, "cannot judge")
    assert reason in " ".join(result["reasons"])


def test_realised_performance_far_below_the_test_interval_recommends_retraining(
    built: Path, drifted: Path
) -> None:
    from churn.delivery import logwindow

    window = logwindow.read(drifted)
    ref = package.load(built).profile
    scores = window.scored[logwindow.SCORE].to_numpy()
    # Outcomes that the scores rank backwards: the model has stopped working.
    labels = window.scored[[contract.ID]].assign(
        label=(scores < np.median(scores)).astype("int64")
    )
    result = judge.judge(window, ref, version="1.0.0", labels=labels)
    perf = result["performance"]
    assert perf["degraded"] and perf["value"] < 0.5 and result["verdict"] == "retrain"
    assert any("realised ROC AUC" in reason for reason in result["reasons"])
