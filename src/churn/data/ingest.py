"""Stage `ingest`: read an upstream CSV batch into the contract's typed table.

The reader is strict about shape (file, encoding, delimiter, columns, numbers) and
leaves the rules about content (ranges, categories, keys, balance) to `validate`.
Every problem is raised as an `IngestError` that names the file and what to fix.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

from churn import config, contract

log = logging.getLogger(__name__)

#: How many offending values an error message quotes.
EXAMPLES = 5


class IngestError(ValueError):
    """A batch that cannot be read into the contract's schema.

    Besides the message, it names the `rule` that was broken, the `column` it
    concerns (None for the whole file) and a few offending `examples`, so that
    `validate` can report it like any failed expectation.
    """

    def __init__(
        self,
        message: str,
        *,
        rule: str,
        column: str | None = None,
        count: int | None = None,
        examples: tuple = (),
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.column = column
        self.count = count
        self.examples = examples


def _examples(values: pd.Series) -> str:
    return ", ".join(repr(v) for v in values.head(EXAMPLES).tolist())


def read_csv_text(path: Path) -> pd.DataFrame:
    """Read `path` as a table of strings, turning pandas' errors into `IngestError`."""
    if not path.is_file():
        raise IngestError(f"{path}: file not found", rule="file exists")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: the file is empty (0 bytes)", rule="not empty")
    try:
        # utf-8-sig accepts the byte-order mark that spreadsheet exports add.
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start : exc.start + 1]
        raise IngestError(
            f"{path}: not UTF-8 text (byte {bad!r} at offset {exc.start}); "
            "re-save the file as UTF-8",
            rule="UTF-8 encoding",
            examples=(repr(bad),),
        ) from None
    except pd.errors.ParserError as exc:
        raise IngestError(
            f"{path}: not a well-formed CSV file: {exc}", rule="well-formed CSV"
        ) from None


def check_columns(raw: pd.DataFrame, source: str) -> None:
    """Raise unless `raw` has exactly the contract's columns, in order."""
    expected = contract.names()
    actual = [str(c) for c in raw.columns]
    if actual == expected:
        return
    if len(actual) == 1 and any(sep in actual[0] for sep in ";\t|"):
        raise IngestError(
            f"{source}: found one column {actual[0][:60]!r}...; the file does not look "
            "comma-separated (is it ';' or tab separated?)",
            rule="comma-separated",
            examples=(actual[0][:60],),
        )
    missing = [c for c in expected if c not in actual]
    extra = [c for c in actual if c not in expected]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {missing}")
        if extra:
            parts.append(f"unexpected column(s) {extra}")
        raise IngestError(
            f"{source}: {'; '.join(parts)}",
            rule="exact column set",
            column=", ".join(missing + extra),
            count=len(missing + extra),
            examples=tuple(missing + extra),
        )
    raise IngestError(
        f"{source}: columns are out of order; expected {expected}",
        rule="column order",
        examples=tuple(actual),
    )


def to_typed(raw: pd.DataFrame, source: str = "<batch>") -> pd.DataFrame:
    """Convert a table of strings to the contract's dtypes.

    Blank cells (empty or whitespace only, as in the original IBM file) become
    missing values; whether a column may be missing is `validate`'s rule.
    """
    check_columns(raw, source)
    if raw.empty:
        raise IngestError(
            f"{source}: the file has a header but no rows", rule="has rows"
        )
    out: dict[str, pd.Series] = {}
    for col in contract.COLUMNS:
        text = raw[col.name].str.strip()
        blank = text.eq("")
        if col.dtype == "string":
            out[col.name] = text.mask(blank).astype("string")
            continue
        number = pd.to_numeric(text.mask(blank), errors="coerce")
        bad = number.isna() & ~blank
        if bad.any():
            raise IngestError(
                f"{source}: column {col.name!r} must be numeric; {int(bad.sum())} "
                f"value(s) are not, e.g. {_examples(raw.loc[bad, col.name])}",
                rule="numeric",
                column=col.name,
                count=int(bad.sum()),
                examples=tuple(raw.loc[bad, col.name].head(EXAMPLES).tolist()),
            )
        if col.dtype == "Int64":
            fractional = number.notna() & (number % 1 != 0)
            if fractional.any():
                raise IngestError(
                    f"{source}: column {col.name!r} must hold whole numbers; "
                    f"{int(fractional.sum())} value(s) do not, "
                    f"e.g. {_examples(raw.loc[fractional, col.name])}",
                    rule="whole numbers",
                    column=col.name,
                    count=int(fractional.sum()),
                    examples=tuple(
                        raw.loc[fractional, col.name].head(EXAMPLES).tolist()
                    ),
                )
            out[col.name] = number.astype("Int64")
        else:
            out[col.name] = number.astype("float64")
    table = pd.DataFrame(out)
    duplicated = table.duplicated(keep="first")
    if duplicated.any():
        raise IngestError(
            f"{source}: {int(duplicated.sum())} row(s) copy earlier rows exactly, "
            f"e.g. {contract.ID} {_examples(table.loc[duplicated, contract.ID])}",
            rule="no duplicated rows",
            column="(all columns)",
            count=int(duplicated.sum()),
            examples=tuple(table.loc[duplicated, contract.ID].head(EXAMPLES).tolist()),
        )
    return table


def read_batch(path: Path) -> pd.DataFrame:
    """Read the CSV batch at `path` into the contract's typed table."""
    table = to_typed(read_csv_text(path), source=str(path))
    log.info("read %d rows x %d columns from %s", len(table), table.shape[1], path)
    return table


def main(argv: list[str] | None = None) -> int:
    """Entry point: read the source named in `params.yaml`, write Parquet."""
    parser = argparse.ArgumentParser(prog="churn ingest", description=__doc__)
    parser.add_argument("--source", type=Path, help="CSV batch (default: params.yaml)")
    parser.add_argument("--out", type=Path, default=config.RAW_DATA)
    args = parser.parse_args(argv)
    config.setup_logging()
    source = args.source or config.resolve(config.load_params()["ingest"]["source"])
    try:
        table = read_batch(source)
    except IngestError as exc:
        log.error("%s", exc)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(args.out, index=False)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
