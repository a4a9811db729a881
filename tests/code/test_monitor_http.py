"""The monitoring loop end to end: a real service logs real traffic, `churn monitor`
judges it. Each case starts `churn serve --log-dir` on a loopback port, sends months
of customers over HTTP with `churn traffic`, stops the service and runs the monitor.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

import delivery_helpers
from churn import contract
from churn.delivery import predlog, smoke, traffic
from churn.delivery.samples import request_rows
from conftest import ROOT
from delivery_helpers import PARAMS, source_env

ENV = source_env()
TIMEOUT = 300

#: A service and months of traffic per test: end to end, so not for the edit loop.
pytestmark = pytest.mark.slow


@contextmanager
def serving(built_archive: Path, log_dir: Path) -> Iterator[smoke.Service]:
    with delivery_helpers.serving(
        built_archive, "--no-access-log", "--log-dir", str(log_dir)
    ) as svc:
        yield svc


def send_month(url: str, month: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "churn", "traffic", "--month", str(month), "--url", url],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"customers of month {month}" in proc.stderr


def monitor(
    log_dir: Path, built_archive: Path, out: Path, *extra: str
) -> tuple[int, dict]:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "churn",
            "monitor",
            "--log-dir",
            str(log_dir),
            "--package",
            str(built_archive),
            "--out",
            str(out),
            *extra,
        ],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert proc.returncode in (0, 1, 2), proc.stderr
    return proc.returncode, json.loads((out / "monitor.json").read_text())


def _bad_customer(**change) -> dict:
    row = request_rows(traffic.month_customers(PARAMS, 1).head(1))[0]
    return {**row, **change}


@pytest.fixture(scope="module")
def learnt(built_archive: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A log of months 1-4, which the model learnt from, and a few refusals."""
    log_dir = tmp_path_factory.mktemp("learnt") / "log"
    with serving(built_archive, log_dir) as service:
        for month in (1, 2, 3, 4):
            send_month(service.url, month)
        url = f"{service.url}/predict"
        for body in (
            {"customers": [_bad_customer(contract="Weekly")]},
            {"customers": [_bad_customer(contract="Weekly"), _bad_customer(tenure=-1)]},
            {"customers": []},
        ):
            assert smoke.post_json(url, body).status == 422
        assert (
            smoke.request(url, data=b"{", content_type="application/json").status == 422
        )
        assert smoke.request(url, data=b"x=1", content_type="text/plain").status == 415
    return log_dir


def test_traffic_like_the_training_data_is_healthy(
    learnt: Path, built_archive: Path, tmp_path: Path
) -> None:
    code, result = monitor(learnt, built_archive, tmp_path)
    assert (code, result["verdict"], result["drifted_features"]) == (0, "healthy", [])
    customers = sum(len(traffic.month_customers(PARAMS, m)) for m in (1, 2, 3, 4))
    assert result["rows"] == customers
    assert result["prediction"]["drift"] is False
    assert result["model"]["served"] == {"1.0.0": customers}
    assert (tmp_path / "feature-drift-psi.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "score-distribution.png").is_file()
    assert "# Monitor: ✅ healthy" in (tmp_path / "monitor.md").read_text()


def test_refused_requests_are_counted_per_rule(
    learnt: Path, built_archive: Path, tmp_path: Path
) -> None:
    _, result = monitor(learnt, built_archive, tmp_path)
    assert result["refused"] == {
        "requests": 5,
        "rules": {
            "contract: literal_error": 2,
            "tenure: greater_than_equal": 1,
            "customers: empty_batch": 1,
            "body: json_invalid": 1,
            "body: content_type": 1,
        },
    }
    assert "| `contract: literal_error` | 2 |" in (tmp_path / "monitor.md").read_text()


def test_a_corrupted_log_line_is_skipped_and_counted(
    learnt: Path, built_archive: Path, tmp_path: Path
) -> None:
    damaged = tmp_path / "log"
    damaged.mkdir()
    files = predlog.log_files(learnt)
    for path in files:
        (damaged / path.name).write_bytes(path.read_bytes())
    last = damaged / files[-1].name
    lines = last.read_bytes().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if b'"kind":"scored"' in line)
    lines[cut] = lines[cut][: len(lines[cut]) // 2] + b"\n"  # a torn write
    last.write_bytes(b"".join(lines) + b'{"kind": "scored", "ts": "2026-')
    code, result = monitor(damaged, built_archive, tmp_path / "out")
    assert code == 0 and result["log"]["skipped_lines"] == 2
    whole = monitor(learnt, built_archive, tmp_path / "whole")[1]
    torn = json.loads(files[-1].read_bytes().splitlines()[cut])
    assert result["rows"] == whole["rows"] - len(torn["customer_id"])


def test_the_contract_promotion_month_recommends_retraining(
    built_archive: Path, tmp_path: Path
) -> None:
    log_dir = tmp_path / "log"
    with serving(built_archive, log_dir) as service:
        send_month(service.url, 7)
    code, result = monitor(log_dir, built_archive, tmp_path / "out")
    assert (code, result["verdict"]) == (1, "retrain")
    assert "contract" in result["drifted_features"]
    assert result["features"]["contract"]["psi"] >= PARAMS["drift"]["psi_threshold"]
    assert result["rows"] == len(traffic.month_customers(PARAMS, 7))
    report = (tmp_path / "out" / "monitor.md").read_text()
    assert "⚠️ retraining recommended" in report and "contract (PSI" in report


def test_realised_roc_auc_of_month_5_is_within_the_test_interval(
    built_archive: Path, tmp_path: Path
) -> None:
    log_dir = tmp_path / "log"
    with serving(built_archive, log_dir) as service:
        send_month(service.url, 5)
    month = traffic.month_customers(PARAMS, 5)
    labels = tmp_path / "labels.csv"
    month[[contract.ID, contract.TARGET]].to_csv(labels, index=False)
    code, result = monitor(
        log_dir, built_archive, tmp_path / "out", "--labels", str(labels)
    )
    assert (code, result["verdict"]) == (0, "healthy")
    perf = result["performance"]
    assert perf["rows"] == len(month)
    assert perf["test"]["low"] <= perf["value"] <= perf["test"]["high"]
    assert perf["low"] < perf["value"] < perf["high"] and not perf["degraded"]
    assert len(perf["calibration"]) == 10 and perf["calibration_gap"] < 0.1
    assert (tmp_path / "out" / "realised-calibration.png").is_file()


def _scored_customers(log_dir: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in predlog.log_files(log_dir)
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def test_a_full_disk_keeps_the_service_answering_and_counts_the_loss(
    built_archive: Path, tmp_path: Path
) -> None:
    log_dir = tmp_path / "log"
    rows = request_rows(traffic.month_customers(PARAMS, 1).head(20))
    with serving(built_archive, log_dir) as service:
        url = f"{service.url}/predict"
        assert smoke.post_json(url, {"customers": rows[:5]}).status == 200
        deadline = time.monotonic() + 10
        while not predlog.log_files(log_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        size = predlog.log_files(log_dir)[-1].stat().st_size
        pid = service.process.pid
        # No file of the service may grow any more: the disk is full for it.
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY))
        try:
            for start in (5, 10, 15):
                reply = smoke.post_json(url, {"customers": rows[start : start + 5]})
                assert reply.status == 200 and len(reply.body["predictions"]) == 5
        finally:
            time.sleep(0.5)  # let the writer meet the limit before it is lifted
            limit = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
            resource.prlimit(pid, resource.RLIMIT_FSIZE, limit)
        assert smoke.post_json(url, {"customers": rows[:1]}).status == 200
        assert service.alive()
    records = _scored_customers(log_dir)
    assert [r["kind"] for r in records] == ["scored", "lost", "scored"]
    assert (records[1]["records"], records[1]["customers"]) == (3, 15)
    errors = [line for line in service.log_lines if "not written" in line]
    assert errors and "predictions are still answered" in errors[0]


def _read_only(folder: Path) -> None:
    """Make `folder` unwritable, for root too (which ignores permission bits)."""
    folder.chmod(0o500)
    if os.geteuid() == 0:
        # An immutable folder refuses new files whoever asks.
        proc = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
        assert proc.returncode == 0, f"chattr +i failed: {proc.stderr!r}"
    probe = folder / "probe"
    with pytest.raises(OSError):
        probe.write_text("x")


@pytest.mark.parametrize("case", ["a file in its place", "read-only"])
def test_an_unwritable_log_folder_keeps_the_service_answering(
    built_archive: Path, tmp_path: Path, case: str
) -> None:
    log_dir = tmp_path / "log"
    if case == "read-only":
        log_dir.mkdir()
        _read_only(log_dir)
    else:
        log_dir.write_text("not a folder")
    rows = request_rows(traffic.month_customers(PARAMS, 1).head(3))
    try:
        with serving(built_archive, log_dir) as service:
            for _ in range(3):
                reply = smoke.post_json(f"{service.url}/predict", {"customers": rows})
                assert reply.status == 200 and len(reply.body["predictions"]) == 3
            assert service.alive()
    finally:
        if case == "read-only" and os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(log_dir)], check=True)
    assert any("not written" in line for line in service.log_lines)
    assert any(
        "3 record(s), 9 customer(s) were not written" in line
        for line in service.log_lines
    )
    assert not any("Traceback" in line for line in service.log_lines)


def test_labels_are_read_as_yes_no_or_1_0(tmp_path: Path) -> None:
    from churn.delivery import judge

    path = tmp_path / "labels.csv"
    pd.DataFrame({"customer_id": [1, 2, 3], "churn": ["Yes", "0", "no"]}).to_csv(
        path, index=False
    )
    assert judge.read_labels(path)["label"].tolist() == [1, 0, 0]
    path.write_text("customer_id,churn\n1,maybe\n")
    with pytest.raises(judge.CannotJudge, match="line 2"):
        judge.read_labels(path)
