"""Stage `batches`: cut the upstream snapshot into monthly batches; `next-month`.

The upstream data has no dates, so time is simulated by a fixed rule:

* **Arrival order** is `customer_id` order. The ids are the row numbers of the
  published file, whose order carries no trend (churn share, tenure and charges are
  flat across id blocks), so every month is a fair sample of the customer base.
* **Months** are `batches.months` consecutive, near-equal blocks of that order
  (`numpy.array_split`): 7 months of 1,006 or 1,007 customers for the bundled data.
  Each month on its own passes the data contract, row floor included.
* **The pipeline's input** is months 1 to `batches.through_month` of `params.yaml`
  (committed, so git records which months a model saw). `churn next-month` adds one.
* **Simulated shifts** (`batches.shifts`, month each one starts, `null` to switch
  off) change later months on purpose so that drift detection has something real to
  find. They are labelled here and in `params.yaml`, and once started they persist,
  as a price rise would. Everything else is the upstream data unchanged.

Writes `data/batches/latest.csv` (the newest month alone, validated on its own) and
`data/batches/all.csv` (every included month: the table the model learns from),
both with the upstream's columns alone, and `data/batches/months.json`, where the
months fall in the upstream's ids: `ingest` tags each row with its month from it,
by the same rule (`month_of`).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churn import config, contract
from churn.data import csvfile
from churn.data.shifts import SHIFTS

# NumPy and pandas are imported in the functions that use them, so that
# `churn batches --help` and `churn next-month --help` answer without loading them.
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger(__name__)


def arrival_order(ids: pd.Series, source: str = "<upstream>") -> np.ndarray:
    """Customer ids as whole numbers, the key of the arrival order.

    Raises `IngestError` naming the line of the first id that is blank or not a
    whole number: without one, the row has no place in the months.
    """
    import numpy as np
    import pandas as pd

    numeric = pd.to_numeric(ids, errors="coerce")
    bad = numeric.isna() | (numeric % 1 != 0)
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise csvfile.IngestError(
            f"{csvfile.where(source, first + 2, contract.ID)}: {ids.iloc[first]!r} "
            f"is not a whole number ({int(bad.sum())} such row(s)); months follow "
            f"{contract.ID} order, so every row needs a numeric id",
            rule=f"whole-number {contract.ID}",
            column=contract.ID,
            count=int(bad.sum()),
            examples=tuple(ids[bad].head(5).tolist()),
            line=first + 2,
        )
    return numeric.to_numpy("float64")


def _blocks(key: np.ndarray, months: int) -> list[np.ndarray]:
    """Row positions of each month: near-equal blocks of the stable `key` order."""
    import numpy as np

    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    if months > len(key):
        raise ValueError(f"cannot cut {len(key)} rows into {months} months")
    return np.array_split(np.argsort(key, kind="stable"), months)


def assign_months(ids: pd.Series, months: int) -> pd.Series:
    """Month 1..`months` of each customer: near-equal blocks in `customer_id` order."""
    import numpy as np
    import pandas as pd

    month = np.empty(len(ids), dtype="int64")
    for number, block in enumerate(_blocks(arrival_order(ids), months), start=1):
        month[block] = number
    return pd.Series(month, index=ids.index, name="month")


def calendar(upstream_ids: pd.Series, months: int) -> dict[str, Any]:
    """What `month_of` needs of the upstream, as JSON: `months`, the last id of
    each month as `assign_months` cuts them, and the upstream's ids as runs of
    consecutive whole numbers (one run for ids 1..n), so ingest need not read it."""
    import numpy as np

    key = arrival_order(upstream_ids).astype("int64")
    # A block's last row in the stable order holds its largest id.
    last = [int(key[block[-1]]) for block in _blocks(key, months)]
    known = np.sort(key)
    # A run continues over repeats (step 0) and the next whole number (step 1).
    breaks = np.flatnonzero(np.diff(known) > 1)
    starts = known[np.r_[0, breaks + 1]]
    stops = known[np.r_[breaks, len(known) - 1]]
    return {
        "months": months,
        "last_ids": last,
        "id_runs": [[int(a), int(b)] for a, b in zip(starts, stops, strict=True)],
    }


def month_of(ids: pd.Series, months: dict[str, Any]) -> pd.Series:
    """The month each of `ids` arrived in, by the upstream's `calendar`.

    An id belongs to the first month whose last id is not below it: the month
    `assign_months` gave it (its first, where the upstream repeats an id across a
    cut). Raises `KeyError` naming the ids that the upstream does not hold.
    """
    import numpy as np
    import pandas as pd

    number = pd.to_numeric(ids, errors="coerce").to_numpy("float64", na_value=np.nan)
    runs = np.asarray(months["id_runs"], dtype="float64").reshape(-1, 2)
    run = np.maximum(np.searchsorted(runs[:, 0], number, side="right") - 1, 0)
    known = (number >= runs[run, 0]) & (number <= runs[run, 1]) & (number % 1 == 0)
    if not known.all():
        raise KeyError(
            f"{int((~known).sum())} {contract.ID}(s) not in the upstream data, "
            f"e.g. {ids[~known].head(5).tolist()}"
        )
    cuts = np.asarray(months["last_ids"][:-1], dtype="float64")
    month = np.searchsorted(cuts, number, side="left") + 1
    return pd.Series(month, index=ids.index, name=contract.MONTH, dtype="Int64")


def select(
    raw: pd.DataFrame,
    *,
    months: int,
    through_month: int,
    shifts: dict[str, int | None],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Months 1..`through_month` of the upstream text table, with shifts applied.

    Returns `(latest, all)`: the newest month alone and every included month, both
    in arrival order with the upstream's columns and text values.
    """
    import numpy as np
    import pandas as pd

    if not 1 <= through_month <= months:
        raise ValueError(
            f"through_month must be between 1 and {months}, got {through_month}"
        )
    unknown = sorted(set(shifts) - set(SHIFTS))
    if unknown:
        raise ValueError(f"unknown shift(s) {unknown}; choose from {sorted(SHIFTS)}")
    month = assign_months(raw[contract.ID], months)
    order = np.argsort(arrival_order(raw[contract.ID]), kind="stable")
    table = raw.assign(month=month).iloc[order]
    table = table[table["month"] <= through_month]
    parts = []
    for number, rows in table.groupby("month", sort=True):
        for name, start in shifts.items():
            if start is not None and number >= start:
                log.info("month %d: applying simulated shift %r", number, name)
                rows = SHIFTS[name](rows)
        parts.append(rows)
    chosen = pd.concat(parts).reset_index(drop=True)
    latest = chosen[chosen["month"] == through_month].drop(columns="month")
    return latest.reset_index(drop=True), chosen.drop(columns="month")


class NoNewMonth(ValueError):
    """Every month of the upstream data is already included."""


def advance(text: str, months: int) -> tuple[str, int]:
    """`params.yaml` text with `batches.through_month` raised by one.

    Edits that one line in place so comments and layout survive. Raises
    `NoNewMonth` when every month is already included, `ValueError` when the text
    has no `batches.through_month`.
    """
    lines = text.splitlines(keepends=True)
    inside = False
    for number, line in enumerate(lines):
        if line[:1].strip() and not line.startswith("#"):
            inside = line.startswith("batches:")
            continue
        match = re.match(r"^(\s+through_month:\s*)(\d+)(.*)$", line, re.S)
        if inside and match:
            current = int(match.group(2))
            if current >= months:
                raise NoNewMonth(
                    f"all {months} months are already included "
                    f"(batches.through_month: {current})"
                )
            lines[number] = f"{match.group(1)}{current + 1}{match.group(3)}"
            return "".join(lines), current + 1
    raise ValueError("no batches.through_month found")


def write_csv(table: pd.DataFrame, path: Path) -> None:
    """Write a text table as CSV, byte-for-byte the same for the same rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, lineterminator="\n")


def write_json(value: dict[str, Any], path: Path) -> None:
    """Write `value` as one line of JSON, the same bytes for the same value."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value) + "\n", encoding="utf-8")


def _params() -> dict[str, Any]:
    return config.load_params()["batches"]


def main(argv: list[str] | None = None) -> int:
    """Entry point: write the included months as `latest.csv` and `all.csv`, and
    where every month falls as `months.json`."""
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn batches",
        description=__doc__,
    )
    parser.parse_args(argv)
    config.setup_logging()
    params = _params()
    source = config.resolve(params["source"])
    try:
        raw = csvfile.read_csv_text(source)
        csvfile.check_columns(raw, str(source))
        csvfile.require_rows(raw, str(source))
        arrival_order(raw[contract.ID], str(source))
        latest, included = select(
            raw,
            months=params["months"],
            through_month=params["through_month"],
            shifts=params.get("shifts") or {},
        )
        months = calendar(raw[contract.ID], params["months"])
    except (csvfile.IngestError, ValueError) as exc:
        log.error("%s", exc)
        return 1
    write_csv(latest, config.LATEST_BATCH)
    write_csv(included, config.ALL_BATCHES)
    write_json(months, config.MONTHS_FILE)
    log.info(
        "months 1-%d of %d: %d rows (month %d: %d rows)",
        params["through_month"],
        params["months"],
        len(included),
        params["through_month"],
        len(latest),
    )
    return 0


def next_month(argv: list[str] | None = None) -> int:
    """Entry point of `churn next-month`: include one more month in `params.yaml`.

    When every month is already in, nothing is new: it says so and succeeds, leaving
    `params.yaml` as it was, so a scheduled retrain has nothing to do rather than
    failing.
    """
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn next-month",
        description=inspect.cleandoc(next_month.__doc__ or ""),
    )
    parser.add_argument("--params", type=Path, default=config.PARAMS_FILE)
    args = parser.parse_args(argv)
    config.setup_logging()
    text = args.params.read_text(encoding="utf-8")
    months = config.load_params(args.params)["batches"]["months"]
    try:
        text, new = advance(text, months)
    except NoNewMonth as exc:
        log.warning("no new month of data: %s", exc)
        return 0
    except ValueError as exc:
        log.error("%s: %s", args.params, exc)
        return 1
    args.params.write_text(text, encoding="utf-8")
    log.info("month %d of %d arrives: run `dvc repro` to retrain", new, months)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
