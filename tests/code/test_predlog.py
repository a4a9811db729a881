"""The prediction log: written off the request path, bounded, read back with care."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from churn import contract
from churn.delivery import logwindow, predlog, validation
from churn.delivery.samples import request_rows
from delivery_helpers import bundled

FEATURES = contract.feature_names()


def _rows(n: int, start: int = 0) -> list[dict]:
    return request_rows(bundled().iloc[start : start + n])


def _columns(rows: list[dict]) -> dict[str, tuple]:
    return {name: tuple(r[name] for r in rows) for name in FEATURES}


def _log(folder: Path, **kwargs) -> predlog.PredictionLog:
    return predlog.PredictionLog(folder, model="churn-model", version="1.0.0", **kwargs)


def _lines(folder: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in predlog.log_files(folder)
        for line in path.read_text().splitlines()
        if line.strip()
    ]


def test_scored_and_refused_requests_are_recorded_with_what_was_scored(
    tmp_path: Path,
) -> None:
    rows = _rows(3)
    plog = _log(tmp_path / "log")
    plog.scored(
        [r["customer_id"] for r in rows], _columns(rows), np.array([0.1, 0.5, 0.9])
    )
    plog.scored([None], rows[:1], np.array([0.2]))  # rows, as the slow path has them
    plog.refused(["contract: literal_error"])
    plog.close()
    first, second, refused = _lines(tmp_path / "log")
    assert first["kind"] == "scored" and first["version"] == "1.0.0"
    assert first["ts"].endswith("Z") and first["customer_id"] == [
        r["customer_id"] for r in rows
    ]
    assert first["features"]["contract"] == [r["contract"] for r in rows]
    assert set(first["features"]) == set(FEATURES)
    assert first["churn_probability"] == [0.1, 0.5, 0.9]
    assert second["customer_id"] == [None] and second["features"]["tenure"] == [
        rows[0]["tenure"]
    ]
    assert refused == {
        **refused,
        "kind": "refused",
        "rules": ["contract: literal_error"],
    }
    # Customer data: readable by the service's user alone.
    assert all(
        p.stat().st_mode & 0o077 == 0 for p in predlog.log_files(tmp_path / "log")
    )


def test_files_rotate_by_size_and_the_total_stays_bounded(tmp_path: Path) -> None:
    rows = _rows(5)
    plog = _log(tmp_path, file_bytes=20_000, total_bytes=60_000)
    for _ in range(200):
        plog.scored([r["customer_id"] for r in rows], _columns(rows), np.full(5, 0.3))
    plog.close()
    files = predlog.log_files(tmp_path)
    sizes = [p.stat().st_size for p in files]
    assert len(files) >= 2 and max(sizes) <= 20_000 and sum(sizes) <= 60_000
    # The oldest files went first: the numbers left are the newest ones.
    numbers = [int(p.stem.split("-")[1]) for p in files]
    assert (
        numbers == list(range(numbers[0], numbers[0] + len(files))) and numbers[0] > 1
    )
    window = logwindow.read(tmp_path)
    assert window.skipped_lines == 0 and len(window.scored) % 5 == 0
    assert plog.lost_records == 0


def test_an_unwritable_folder_loses_records_counts_them_and_recovers(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "log"
    blocker.write_text("a file where the folder should be")
    rows = _rows(2)
    plog = _log(blocker)
    plog.scored([1, 2], _columns(rows), np.array([0.1, 0.2]))
    plog.refused(["tenure: missing"])
    deadline = time.monotonic() + 10
    while plog.lost_records < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (plog.lost_records, plog.lost_customers) == (2, 2)
    # Once the folder can be written, the loss is recorded before the next record.
    blocker.unlink()
    plog.scored([3], _columns(rows[:1]), np.array([0.3]))
    plog.close()
    lost, scored = _lines(blocker)
    assert (lost["kind"], lost["records"], lost["customers"]) == ("lost", 2, 2)
    assert scored["customer_id"] == [3]


def test_a_full_queue_drops_and_counts_instead_of_waiting(tmp_path: Path) -> None:
    plog = _log(tmp_path, queue_records=1)
    # A disk that stalls: the writer waits on every write until released.
    released = threading.Event()
    write = plog._write
    plog._write = lambda line, n: (released.wait(10), write(line, n))
    rows = _rows(4)
    started = time.monotonic()
    for _ in range(50):
        plog.scored([1, 2, 3, 4], _columns(rows), np.full(4, 0.5))
    assert time.monotonic() - started < 1, "the request path waited for the disk"
    released.set()
    plog.close()
    written = len(_lines(tmp_path)) - 1  # the note of what was lost comes first
    assert 47 <= plog.lost_records <= 49 and written + plog.lost_records == 50
    assert plog.lost_customers == 4 * plog.lost_records


def test_rules_name_the_contract_column_once_per_request() -> None:
    errors = [
        {"type": "literal_error", "loc": ("body", "customers", 0, "contract")},
        {"type": "literal_error", "loc": ("body", "customers", 3, "contract")},
        {"type": "missing", "loc": ("body", "customers", 1, "tenure")},
        {"type": "model_type", "loc": ("body", "customers", 2), "input": 5},
        {"type": "batch_too_large", "loc": ()},
        {"type": "json_invalid", "loc": ("body", 12), "msg": "x", "ctx": {}},
    ]
    for error in errors:
        error.setdefault("msg", "wrong")
    assert predlog.rules(validation.describe(errors)) == [
        "contract: literal_error",
        "tenure: missing",
        "customers: model_type",
        "customers: batch_too_large",
        "body: json_invalid",
    ]


def test_corrupt_and_truncated_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    rows = _rows(3)
    plog = _log(tmp_path)
    plog.scored([r["customer_id"] for r in rows], _columns(rows), np.full(3, 0.4))
    plog.close()
    path = predlog.log_files(tmp_path)[-1]
    good = path.read_text()
    bad_value = json.loads(good)
    bad_value["features"]["contract"][0] = "Weekly"
    with path.open("a") as fh:
        fh.write("not json at all\n")
        fh.write(json.dumps({"kind": "scored", "ts": "x"}) + "\n")  # no features
        fh.write(json.dumps(bad_value) + "\n")
        fh.write(good[: len(good) // 2])  # cut short by a crash
    window = logwindow.read(tmp_path)
    assert window.lines == 5 and window.skipped_lines == 3
    assert len(window.scored) == 5 and window.bad_customers == 1
    assert window.scored["tenure"].dtype == float
    assert window.scored["contract"].dtype == "category"


def test_the_window_by_time_and_by_count(tmp_path: Path) -> None:
    def line(ts: str, cid: int) -> str:
        row = _rows(1, start=cid)[0]
        return json.dumps(
            {
                "kind": "scored",
                "ts": ts,
                "model": "m",
                "version": "1",
                "customer_id": [cid],
                "features": {f: [row[f]] for f in FEATURES},
                "churn_probability": [0.5],
            }
        )

    text = "\n".join(
        [
            line("2026-01-01T00:00:00.000Z", 1),
            line("2026-02-01T00:00:00.000Z", 2),
            line("2026-03-01T00:00:00.000Z", 3),
        ]
    )
    (tmp_path / "predictions-00000001.jsonl").write_text(text + "\n")
    since = logwindow.since_timestamp("2026-01-15")
    assert since == "2026-01-15T00:00:00.000Z"
    window = logwindow.read(tmp_path, since=since)
    assert window.scored[contract.ID].tolist() == [2, 3]
    assert window.first == "2026-02-01T00:00:00.000Z"
    assert logwindow.read(tmp_path, last=1).scored[contract.ID].tolist() == [3]
    with pytest.raises(ValueError, match="ISO 8601"):
        logwindow.since_timestamp("last tuesday")


def test_no_log_is_an_error_not_an_empty_window(tmp_path: Path) -> None:
    with pytest.raises(logwindow.LogError, match="no such folder"):
        logwindow.read(tmp_path / "missing")
    with pytest.raises(logwindow.LogError, match="no predictions-"):
        logwindow.read(tmp_path)
