"""Stage `ingest`: the validated table, typed, with each row's arrival month.

The CSV reader here (`read_batch`) is strict about shape (file, encoding, delimiter,
columns, numbers) and leaves the rules about content (ranges, categories, keys,
balance) to `validate`. Every problem is raised as an `IngestError` that names the
file, the line, the column where one is known, and the rule (`churn.data.csvfile`).

`validate` reads `ingest.source` with it and, once the table passed, writes it as
`data/batches/all.parquet`; the stage reads that, and tags months from
`data/batches/months.json`, so that no CSV is parsed twice in a run. Given
`--source FILE.csv`, it parses that file instead. The table it writes carries each
row's arrival `month` besides the contract's columns.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churn import config, contract, lineage
from churn.data import batches
from churn.data.csvfile import (
    IngestError,
    check_columns,
    read_csv_text,
    require_rows,
    where,
)

# pandas is imported in the functions that use it, so that `churn ingest --help`
# answers without loading it.
if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: How many offending values an error message quotes.
EXAMPLES = 5


def _examples(values: pd.Series) -> str:
    return ", ".join(repr(v) for v in values.head(EXAMPLES).tolist())


def _refuse(
    values: pd.Series, bad: pd.Series, source: str, *, column: str, rule: str, what: str
) -> IngestError:
    """The error for the `bad` rows of `values`, placed at the first one's line.

    Data row `i` (0-based) is line `i + 2` of the file, below the header.
    """
    line = int(bad.to_numpy().nonzero()[0][0]) + 2
    count = int(bad.sum())
    return IngestError(
        f"{where(source, line)}: {what}; {count} value(s) do not, "
        f"e.g. {_examples(values[bad])}",
        rule=rule,
        column=column,
        count=count,
        examples=tuple(values[bad].head(EXAMPLES).tolist()),
        line=line,
    )


def numbers(text: pd.Series) -> pd.Series:
    """Stripped text as floats; missing where blank or not a number.

    Arrow's cast is many times faster than `pd.to_numeric` and accepts a subset of
    what it accepts, to the same values; when it refuses a cell, `pd.to_numeric`
    reads the column so that the caller can name the bad cells. Without pyarrow
    (the serving install has none), pandas reads every column.
    """
    import pandas as pd

    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:
        return pd.to_numeric(text.mask(text.eq("")), errors="coerce").astype("float64")
    try:
        cells = pa.array(text.mask(text.eq("")), type=pa.string(), from_pandas=True)
        return pd.Series(
            pc.cast(cells, pa.float64()).to_numpy(zero_copy_only=False),
            index=text.index,
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pd.to_numeric(text.mask(text.eq("")), errors="coerce").astype("float64")


def to_typed(raw: pd.DataFrame, source: str = "<batch>") -> pd.DataFrame:
    """Convert a table of strings to the contract's dtypes.

    Blank cells (empty or whitespace only, as in the original IBM file) become
    missing values; whether a column may be missing is `validate`'s rule.
    """
    import pandas as pd

    check_columns(raw, source)
    require_rows(raw, source)
    out: dict[str, pd.Series] = {}
    for col in contract.COLUMNS:
        text = raw[col.name].str.strip()
        blank = text.eq("")
        if col.dtype == "string":
            out[col.name] = text.mask(blank).astype("string")
            continue
        number = numbers(text)
        bad = number.isna() & ~blank
        if bad.any():
            raise _refuse(
                raw[col.name],
                bad,
                source,
                column=col.name,
                rule="numeric",
                what=f"column {col.name!r} must be numeric",
            )
        if col.dtype == "Int64":
            fractional = number.notna() & (number % 1 != 0)
            if fractional.any():
                raise _refuse(
                    raw[col.name],
                    fractional,
                    source,
                    column=col.name,
                    rule="whole numbers",
                    what=f"column {col.name!r} must hold whole numbers",
                )
            out[col.name] = number.astype("Int64")
        else:
            out[col.name] = number.astype("float64")
    table = pd.DataFrame(out)
    duplicated = table.duplicated(keep="first")
    if duplicated.any():
        raise _refuse(
            table[contract.ID],
            duplicated,
            source,
            column="(all columns)",
            rule="no duplicated rows",
            what=f"each row once: a row must not copy an earlier one ({contract.ID} "
            "shown)",
        )
    return table


def read_batch(path: Path) -> pd.DataFrame:
    """Read the CSV batch at `path` into the contract's typed table."""
    table = to_typed(read_csv_text(path), source=str(path))
    log.info("read %d rows x %d columns from %s", len(table), table.shape[1], path)
    return table


def read_validated(path: Path) -> pd.DataFrame:
    """The typed table `validate` wrote at `path` once it passed.

    Raises `IngestError` when the file is missing or unreadable, or its columns or
    dtypes are not the contract's.
    """
    import pandas as pd

    if not path.is_file():
        raise IngestError(
            f"{path}: file not found; `churn validate --out {path}` writes it once "
            "a batch passed",
            rule="file exists",
        )
    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise IngestError(
            f"{path}: not a Parquet file ({exc})", rule="Parquet"
        ) from None
    expected = [(col.name, col.dtype) for col in contract.COLUMNS]
    if [(str(k), str(v)) for k, v in table.dtypes.items()] != expected:
        raise IngestError(
            f"{path}: columns and dtypes are not the contract's {expected}",
            rule="the contract's typed table",
        )
    log.info("read %d rows x %d columns from %s", len(table), table.shape[1], path)
    return table


def read_months(path: Path) -> dict[str, Any]:
    """Where the months fall, as `churn batches` wrote it (`batches.calendar`).

    Raises `IngestError` when the file is missing, unreadable or of another shape.
    """
    try:
        months = lineage.read_json(path)
    except lineage.LineageError as exc:
        raise IngestError(str(exc), rule="months file") from None
    if months is None:
        raise IngestError(
            f"{path}: file not found; `churn batches` writes it", rule="file exists"
        )
    if not (
        isinstance(months, dict)
        and isinstance(months.get("months"), int)
        and isinstance(months.get("last_ids"), list)
        and len(months["last_ids"]) == months["months"] >= 1
        and isinstance(months.get("id_runs"), list)
        and all(isinstance(r, list) and len(r) == 2 for r in months["id_runs"])
    ):
        raise IngestError(
            f"{path}: not the months file `churn batches` writes (months, last_ids, "
            "id_runs)",
            rule="months file",
        )
    return months


def with_month(
    table: pd.DataFrame, months: dict[str, Any], *, source: str
) -> pd.DataFrame:
    """`table` with a last column, `month`: when each customer arrived.

    The month comes from `churn.data.batches.month_of`, the rule that cut the
    months, applied to the upstream's `calendar`. It is not a feature: the model,
    the request schema and the GX suite never see it.
    """
    try:
        month = batches.month_of(table[contract.ID], months)
    except KeyError as exc:
        raise IngestError(
            f"{source}: {exc.args[0]}; a batch holds upstream customers only",
            rule="customers of the upstream data",
            column=contract.ID,
        ) from None
    return table.assign(**{contract.MONTH: month})


def main(argv: list[str] | None = None) -> int:
    """Entry point: tag the validated table (or a CSV) with months, write Parquet."""
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn ingest",
        description=__doc__,
    )
    parser.add_argument(
        "--source",
        type=Path,
        help=f"CSV batch to parse (default: {config.FILES.validated}, the table "
        "validate checked)",
    )
    parser.add_argument("--out", type=Path, default=config.RAW_DATA)
    args = parser.parse_args(argv)
    config.setup_logging()
    source = args.source or config.VALIDATED_TABLE
    try:
        table = read_batch(source) if args.source else read_validated(source)
        table = with_month(table, read_months(config.MONTHS_FILE), source=str(source))
    except IngestError as exc:
        log.error("%s", exc)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(args.out, index=False)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
