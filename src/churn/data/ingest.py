"""Stage `ingest`: read an upstream CSV batch into the contract's typed table.

The reader is strict about shape (file, encoding, delimiter, columns, numbers) and
leaves the rules about content (ranges, categories, keys, balance) to `validate`.
Every problem is raised as an `IngestError` that names the file, the line, the
column where one is known, and the rule (`churn.data.csvfile`). The table it writes
carries each row's arrival `month` besides the contract's columns.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from churn import config, contract
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


def with_month(
    table: pd.DataFrame, upstream_ids: pd.Series, *, months: int, source: str
) -> pd.DataFrame:
    """`table` with a last column, `month`: when each customer arrived.

    The month comes from `churn.data.batches.month_of`, the rule that cut the
    months, applied to the upstream's ids. It is not a feature: the model, the
    request schema and the GX suite never see it.
    """
    try:
        month = batches.month_of(table[contract.ID], upstream_ids, months=months)
    except KeyError as exc:
        raise IngestError(
            f"{source}: {exc.args[0]}; a batch holds upstream customers only",
            rule="customers of the upstream data",
            column=contract.ID,
        ) from None
    return table.assign(**{contract.MONTH: month})


def main(argv: list[str] | None = None) -> int:
    """Entry point: read the source named in `params.yaml`, write Parquet."""
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn ingest",
        description=__doc__,
    )
    parser.add_argument("--source", type=Path, help="CSV batch (default: params.yaml)")
    parser.add_argument("--out", type=Path, default=config.RAW_DATA)
    args = parser.parse_args(argv)
    config.setup_logging()
    params = config.load_params()
    source = args.source or config.resolve(params["ingest"]["source"])
    upstream = config.resolve(params["batches"]["source"])
    try:
        table = with_month(
            read_batch(source),
            read_csv_text(upstream)[contract.ID],
            months=params["batches"]["months"],
            source=str(source),
        )
    except IngestError as exc:
        log.error("%s", exc)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(args.out, index=False)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
