"""A window of the prediction log, read back as a table for `churn monitor`.

The window is every line of `predictions-*.jsonl` (oldest file first) at or after
`since`, then the last `last` scored customers of those. A line that is not a
complete record (cut short by a crash or a full disk, or edited by hand) is
skipped and counted, never fatal; so is a customer whose values the data contract
does not allow. Features come back as the pipeline trains on them
(`churn.data.cleaning.clean`): numbers and flags as floats, a not-yet-billed
customer's blank `total_charges` as 0.

Scored customers are collected column by column and turned into a table every
`CHUNK` customers, categories as pandas categoricals: a million logged customers
take tens of megabytes, not gigabytes.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from churn import contract
from churn.delivery import columns, predlog
from churn.pipeline import profile

log = logging.getLogger(__name__)

CHUNK = 100_000
SCORE = "churn_probability"
VERSION = "version"
_FEATURES = tuple(contract.feature_names())
_DURATION = re.compile(r"^(\d+)([dhms])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_ID_MIN, _ID_MAX = columns.id_range()
# Values no valid id takes (ids start at _ID_MIN, 1): no id given, or a bad one.
_NO_ID, _BAD_ID = _ID_MIN - 1, _ID_MIN - 2


class LogError(ValueError):
    """The log cannot be read at all: no folder, no files, or no permission."""


@dataclass
class Window:
    """What a window of the log holds."""

    scored: pd.DataFrame
    refused: dict[str, int] = field(default_factory=dict)
    refused_requests: int = 0
    lost_records: int = 0
    lost_customers: int = 0
    files: int = 0
    lines: int = 0
    skipped_lines: int = 0
    bad_customers: int = 0
    first: str | None = None
    last: str | None = None


def since_timestamp(text: str, now: datetime | None = None) -> str:
    """`--since` as a log timestamp: an ISO 8601 time, or `7d`, `12h`, `30m` ago."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(text.strip())
    if match:
        when = now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    else:
        try:
            when = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValueError(
                f"--since {text!r}: give an ISO 8601 time or a duration like 7d, 12h"
            ) from None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    return predlog.timestamp(when.timestamp())


def _well_formed(record: Any) -> bool:
    if not isinstance(record, dict) or not isinstance(record.get("ts"), str):
        return False
    kind = record.get("kind")
    if kind == "refused":
        return isinstance(record.get("rules"), list)
    if kind == "lost":
        return all(isinstance(record.get(k), int) for k in ("records", "customers"))
    if kind != "scored":
        return False
    ids, features, proba = (record.get(k) for k in ("customer_id", "features", SCORE))
    if not isinstance(ids, list) or not isinstance(proba, list) or not ids:
        return False
    if not isinstance(features, dict):
        return False
    n = len(ids)
    return len(proba) == n and all(
        isinstance(features.get(f), list) and len(features[f]) == n for f in _FEATURES
    )


class _Collector:
    """Scored customers, column by column, turned into tables every CHUNK rows."""

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []
        self.bad = 0
        self._reset()

    def _reset(self) -> None:
        self.columns: dict[str, list[Any]] = {
            name: [] for name in (contract.ID, VERSION, *_FEATURES, SCORE)
        }
        self.rows = 0

    def add(self, record: dict[str, Any]) -> None:
        n = len(record["customer_id"])
        self.columns[contract.ID].extend(record["customer_id"])
        self.columns[VERSION].extend([str(record.get(VERSION))] * n)
        self.columns[SCORE].extend(record[SCORE])
        for name in _FEATURES:
            self.columns[name].extend(record["features"][name])
        self.rows += n
        if self.rows >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.frames.append(self._table())
        self._reset()

    def _table(self) -> pd.DataFrame:
        cols = self.columns
        ids, bad_ids = _ids(cols[contract.ID])
        out: dict[str, Any] = {
            contract.ID: ids,
            VERSION: pd.Categorical(cols[VERSION]),
        }
        for name in _FEATURES:
            if name in profile.CATEGORICAL:
                out[name] = _categorical(cols[name], contract.column(name).allowed)
            else:
                out[name] = _numbers(cols[name])
        out[SCORE] = _numbers(cols[SCORE])
        table = pd.DataFrame(out)
        # As cleaning.clean has it: not yet billed means lifetime charges of 0.
        unbilled = table["total_charges"].isna() & table["tenure"].eq(0)
        table.loc[unbilled, "total_charges"] = 0.0
        # A missing id is allowed (the request gave none); a bad one is not.
        valid = table.drop(columns=[contract.ID]).notna().all(axis=1) & ~bad_ids
        valid &= table[SCORE].between(0, 1)
        self.bad += int((~valid).sum())
        return table[valid]

    def table(self) -> pd.DataFrame:
        self.flush()
        if not self.frames:
            return self._table()
        frame = pd.concat(self.frames, ignore_index=True)
        frame[VERSION] = frame[VERSION].astype("category")
        return frame


def _categorical(values: list[Any], allowed: Any) -> pd.Categorical:
    # A value the contract does not allow becomes missing (code -1): a bad customer.
    code = {level: i for i, level in enumerate(allowed or ())}
    try:
        codes = np.fromiter(map(code.get, values, itertools.repeat(-1)), np.int64)
    except TypeError:  # an unhashable value, as in a line edited by hand
        codes = np.array(
            [code.get(v, -1) if isinstance(v, Hashable) else -1 for v in values],
            dtype=np.int64,
        )
    return pd.Categorical.from_codes(codes, categories=list(allowed or ()))


def _id(value: Any) -> int:
    """`value` as an id; `_NO_ID` if the request gave none, `_BAD_ID` if it is not
    one a request may carry (a whole number from 1 to 2**63 - 1)."""
    if value is None:
        return _NO_ID
    # The request model counts 12.0 as the whole number 12; a bool is not a number.
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is int and _ID_MIN <= value <= _ID_MAX:
        return value
    return _BAD_ID


def _ids(values: list[Any]) -> tuple[pd.Series, np.ndarray]:
    """The ids as Int64 (missing where the request gave none), and which are bad.

    Converted one by one, never through float64: a float holds integers exactly only
    up to 2**53, and the contract allows ids up to 2**63 - 1.
    """
    ids = np.fromiter(map(_id, values), np.int64, count=len(values))
    bad = ids == _BAD_ID
    return pd.Series(pd.arrays.IntegerArray(ids, bad | (ids == _NO_ID))), bad


def _numbers(values: list[Any]) -> np.ndarray:
    return pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(
        float
    )


def read(folder: Path, *, since: str | None = None, last: int | None = None) -> Window:
    """The window of the log in `folder`; `LogError` if there is no log to read."""
    if not folder.is_dir():
        raise LogError(f"{folder}: no such folder; nothing was logged there")
    files = predlog.log_files(folder)
    if not files:
        raise LogError(f"{folder}: no {predlog.PATTERN} files; nothing was logged")
    collector = _Collector()
    window = Window(scored=pd.DataFrame(), files=len(files))
    for path in files:
        try:
            with path.open("rb") as fh:
                for line in fh:
                    _take(line, window, collector, since)
        except OSError as exc:
            raise LogError(f"{path}: cannot be read ({exc})") from exc
    frame = collector.table()
    if last is not None:
        frame = frame.tail(last).reset_index(drop=True)
    window.scored = frame
    window.bad_customers = collector.bad
    if window.skipped_lines:
        log.warning(
            "skipped %d line(s) of the log that are not complete records",
            window.skipped_lines,
        )
    return window


def _take(
    line: bytes, window: Window, collector: _Collector, since: str | None
) -> None:
    if not line.strip():
        return  # the line break a writer adds after a write that failed halfway
    window.lines += 1
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        window.skipped_lines += 1
        return
    if not _well_formed(record):
        window.skipped_lines += 1
        return
    if since is not None and record["ts"] < since:
        return
    window.first = window.first or record["ts"]
    window.last = record["ts"]
    kind = record["kind"]
    if kind == "scored":
        collector.add(record)
    elif kind == "refused":
        window.refused_requests += 1
        for rule in record["rules"]:
            window.refused[str(rule)] = window.refused.get(str(rule), 0) + 1
    else:
        window.lost_records += record["records"]
        window.lost_customers += record["customers"]
