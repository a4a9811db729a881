"""The prediction log: what the service scored and refused, as JSON Lines files.

`churn serve --log-dir DIR` appends one line per request to `DIR/predictions-*.jsonl`:

    {"kind": "scored", "ts": "2026-05-01T06:00:00.123Z", "model": "churn-model",
     "version": "1.3.0", "customer_id": [7, ...], "features": {"tenure": [22, ...],
     ...}, "churn_probability": [0.52, ...]}
    {"kind": "refused", "ts": ..., "rules": ["contract: literal_error"]}
    {"kind": "lost", "ts": ..., "records": 3, "customers": 40}

The features are those of the request, column by column, so the log holds customer
data: keep it where customer data may be kept, for as long as it may be kept.
A file is closed at `FILE_BYTES` and the next one opened; the oldest files are
deleted so that all of them together stay within `TOTAL_BYTES`.

The request path only hands a record to a queue; a writer thread encodes and writes
it. A log that cannot be written (folder missing or read-only, disk full) never fails
a request: the error is logged, the request answered, and what was not written is
counted, then recorded as a `lost` line once writing works again.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from churn import contract

log = logging.getLogger(__name__)

#: A file is closed when the next line would take it past this size.
FILE_BYTES = 32 * 2**20
#: All files together stay within this size; the oldest go first.
TOTAL_BYTES = 1024 * 2**20
#: Requests waiting for the writer; beyond this they are counted as lost.
QUEUE_RECORDS = 10_000
#: Seconds between two error messages about the same failing log.
ERROR_EVERY = 60.0
PATTERN = "predictions-*.jsonl"
_NAME = re.compile(r"^predictions-(\d+)\.jsonl$")
_FEATURES = tuple(contract.feature_names())
_CUSTOMER = re.compile(r"^customers\[\d+\]\.?")


def timestamp(seconds: float) -> str:
    """UTC time as the log writes it: ISO 8601 to the millisecond, with a Z."""
    when = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")
    return when.replace("+00:00", "Z")


def rules(details: Sequence[Mapping[str, Any]]) -> list[str]:
    """The rules a refused request broke, once each: `field: error type`.

    `details` are the service's error details (`churn.delivery.validation.describe`).
    The field is the contract's column (`contract`), not the customer that broke
    it (`customers[3].contract`), so that counts add up by rule.
    """
    found: dict[str, None] = {}
    for detail in details:
        name = _CUSTOMER.sub("", str(detail.get("field", "body"))) or "customers"
        found[f"{name}: {detail.get('type', 'unknown')}"] = None
    return list(found)


def log_files(folder: Path) -> list[Path]:
    """The log's files, oldest first."""
    found = [(int(m[1]), p) for p in folder.glob(PATTERN) if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


class PredictionLog:
    """Append-only, size-bounded JSON Lines log of one service's requests."""

    def __init__(
        self,
        folder: Path,
        *,
        model: str,
        version: str,
        file_bytes: int = FILE_BYTES,
        total_bytes: int = TOTAL_BYTES,
        queue_records: int = QUEUE_RECORDS,
    ) -> None:
        self.folder = Path(folder)
        self.file_bytes = min(file_bytes, total_bytes)
        self.total_bytes = total_bytes
        self._head = {"model": model, "version": version}
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(queue_records)
        self._lock = threading.Lock()
        #: What was not written since the service started: records and customers.
        self.lost_records = self.lost_customers = 0
        self._unreported = [0, 0]
        self._last_error = -ERROR_EVERY
        self._fd: int | None = None
        self._size = 0
        self._torn = False
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="predlog", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # --- the request path: hand over, never block ------------------------------

    def scored(self, ids: Sequence[Any], features: Any, proba: Any) -> None:
        """Record scored customers: their ids, features (columns or rows), scores."""
        self._put(("scored", time.time(), ids, features, proba), len(ids))

    def refused(self, broken: list[str]) -> None:
        """Record a refused request and the rules it broke."""
        self._put(("refused", time.time(), broken, None, None), 0)

    def _put(self, item: tuple[Any, ...], customers: int) -> None:
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self._lose(customers, "the writer is behind (queue full)")

    # --- the writer thread -------------------------------------------------------

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            customers = len(item[2]) if item[0] == "scored" else 0
            try:
                self._write(self._encode(item), customers)
            except Exception as exc:  # noqa: BLE001 (the service must keep answering)
                self._lose(customers, f"{type(exc).__name__}: {exc}")

    def _encode(self, item: tuple[Any, ...]) -> bytes:
        kind, seconds, first, features, proba = item
        record: dict[str, Any] = {"kind": kind, "ts": timestamp(seconds), **self._head}
        if kind == "refused":
            record["rules"] = first
        else:
            if not isinstance(features, Mapping):
                features = {n: [row[n] for row in features] for n in _FEATURES}
            record["customer_id"] = first
            record["features"] = {n: features[n] for n in _FEATURES}
            record["churn_probability"] = proba
        return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"

    def _write(self, line: bytes, customers: int) -> None:
        with self._lock:
            records, lost = self._unreported
        if records:
            note = {"kind": "lost", "ts": timestamp(time.time()), **self._head}
            note |= {"records": records, "customers": lost}
            line = orjson.dumps(note) + b"\n" + line
        if len(line) >= self.file_bytes:
            raise OSError(f"a record of {len(line)} bytes exceeds the file size limit")
        if self._fd is None or self._size + len(line) + 1 > self.file_bytes:
            self._rotate()
        assert self._fd is not None
        if self._torn:
            line = b"\n" + line  # ends the line a failed write left unfinished
        written = 0
        try:
            written = os.write(self._fd, line)
        finally:
            self._size += written
            self._torn = 0 < written < len(line) or (self._torn and written == 0)
        if written < len(line):
            raise OSError(f"wrote {written} of {len(line)} bytes (disk full?)")
        with self._lock:
            self._unreported[0] -= records
            self._unreported[1] -= lost

    def _rotate(self) -> None:
        self._close_file()
        self.folder.mkdir(parents=True, exist_ok=True)
        files = log_files(self.folder)
        number = int(_NAME.match(files[-1].name)[1]) + 1 if files else 1
        # Keep the newest files that leave room for a full new one.
        room, kept = self.total_bytes - self.file_bytes, 0
        for path in reversed(files):
            kept += path.stat().st_size
            if kept > room:
                path.unlink()
                log.info("prediction log: removed %s to stay within its size", path)
        while True:
            path = self.folder / f"predictions-{number:08d}.jsonl"
            try:
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
                self._fd = os.open(path, flags, 0o600)  # customer data: owner only
                break
            except FileExistsError:
                number += 1
        self._size, self._torn = 0, False

    def _close_file(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def _lose(self, customers: int, why: str) -> None:
        with self._lock:
            self.lost_records += 1
            self.lost_customers += customers
            self._unreported[0] += 1
            self._unreported[1] += customers
            now = time.monotonic()
            if now - self._last_error < ERROR_EVERY:
                return
            self._last_error = now
            total = (self.lost_records, self.lost_customers)
        log.error(
            "prediction log %s: not written (%s); predictions are still answered. "
            "%d record(s), %d customer(s) not logged so far",
            self.folder,
            why,
            *total,
        )

    def close(self, timeout: float = 10) -> None:
        """Write what is queued, then stop the writer and close the file."""
        if self._closed:
            return
        self._closed = True
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._close_file()
        if self.lost_records:
            log.error(
                "prediction log %s: %d record(s), %d customer(s) were not written",
                self.folder,
                self.lost_records,
                self.lost_customers,
            )
