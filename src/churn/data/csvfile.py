"""Reading an upstream CSV batch as text, and saying exactly where it is malformed.

Both `batches` (the upstream snapshot) and `ingest` (the batches it cut) read files
through `read_csv_text`, so every file that cannot be read is refused the same way:
an `IngestError` that names the file, the first offending line, the column where
one is known, and the rule the file breaks.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

from churn import contract

if TYPE_CHECKING:  # pandas loads in `read_csv_text`: the commands' `--help` needs none
    import pandas as pd


class IngestError(ValueError):
    """A batch that cannot be read into the contract's schema.

    Besides the message, it names the `rule` that was broken, the `column` it
    concerns (None for the whole file), the first offending `line` of the file
    (1 is the header; None when no single line is to blame) and a few offending
    `examples`, so that `validate` can report it like any failed expectation.
    """

    def __init__(
        self,
        message: str,
        *,
        rule: str,
        column: str | None = None,
        count: int | None = None,
        examples: tuple = (),
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.rule = rule
        self.column = column
        self.count = count
        self.examples = examples
        self.line = line


def where(path: Path | str, line: int | None, column: str | None = None) -> str:
    """`file, line N, column 'c'`: the place a message starts with."""
    line_part = "" if line is None else f", line {line}"
    column_part = "" if column is None else f", column {column!r}"
    return f"{path}{line_part}{column_part}"


def _field_index(line_text: str) -> int:
    """Which field (0-based) the end of `line_text`, a line's prefix, falls in."""
    fields = next(csv.reader([line_text]), [""])
    return max(len(fields) - 1, 0)


def _column_at(header: list[str], line: int, prefix: str) -> str | None:
    """The header name of the field that `prefix` (of data line `line`) ends in."""
    if line < 2 or not header:
        return None
    index = _field_index(prefix)
    return header[index] if index < len(header) else None


def decode(path: Path | str, data: bytes) -> str:
    """`data` as UTF-8 text (a leading byte-order mark dropped), or an `IngestError`.

    The error names the line and, on a data line, the column of the first byte
    that is not UTF-8.
    """
    try:
        # utf-8-sig accepts the byte-order mark that spreadsheet exports add.
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1]
        line = data.count(b"\n", 0, exc.start) + 1
        start = data.rfind(b"\n", 0, exc.start) + 1
        prefix = data[start : exc.start].decode("utf-8", errors="replace")
        head = data[: data.find(b"\n")] if b"\n" in data else data
        header = next(csv.reader([head.decode("utf-8", errors="replace")]), [])
        column = _column_at([h.strip() for h in header], line, prefix)
        raise IngestError(
            f"{where(path, line, column)}: not UTF-8 text (byte {bad!r} at offset "
            f"{exc.start}); re-save the file as UTF-8",
            rule="UTF-8 encoding",
            column=column,
            examples=(repr(bad),),
            line=line,
        ) from None


def _nul(path: Path | str, text: str, header: list[str]) -> IngestError | None:
    at = text.find("\x00")
    if at < 0:
        return None
    line = text.count("\n", 0, at) + 1
    column = _column_at(header, line, text[text.rfind("\n", 0, at) + 1 : at])
    return IngestError(
        f"{where(path, line, column)}: holds a NUL byte (\\x00); a text CSV file "
        "has none: the file is binary or was cut mid-write",
        rule="no NUL bytes",
        column=column,
        examples=("\\x00",),
        line=line,
    )


def _header(path: Path | str, text: str) -> list[str]:
    """The header's names, checked for being there and for repeats."""
    first = next(csv.reader(io.StringIO(text, newline="")), [])
    names = [name.strip() for name in first]
    if not any(names):
        raise IngestError(
            f"{where(path, 1, None)}: no header row; the first line must name the "
            "columns",
            rule="header row",
            line=1,
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise IngestError(
                f"{where(path, 1, name)}: column {name!r} is named "
                f"{names.count(name)} times in the header; each column once",
                rule="unique column names",
                column=name,
                count=names.count(name),
                examples=(name,),
                line=1,
            )
        seen.add(name)
    return names


def plain(text: str) -> bool:
    """Whether CSV `text` has no quotes and no line break but LF or CRLF: then a
    field ends at every comma and a row at every line break, as fast readers take."""
    return '"' not in text and text.count("\r") == text.count("\r\n")


def _ragged_fast(
    path: Path | str, text: str, header: list[str]
) -> tuple[int, list[str]] | None:
    """The first row without a field per column (line, fields), or None, in a
    `plain` text: counting commas per line finds what `csv.reader` would, at a
    fraction of its cost on a million rows."""
    commas = len(header) - 1
    for number, line in enumerate(text.split("\n")[1:], start=2):
        if line.count(",") != commas and line not in ("", "\r"):
            return number, line.removesuffix("\r").split(",")
    return None


def _ragged(
    path: Path | str, text: str, header: list[str]
) -> tuple[int, list[str]] | None:
    """The first row without a field per column, as the csv module reads quotes."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for row in reader:
            if start > 1 and row and len(row) != len(header):
                return start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        lines = text.splitlines()
        opened = lines[start - 1] if start - 1 < len(lines) else ""
        quote = opened.rfind('"')
        column = _column_at(header, start, opened[: max(quote, 0)])
        raise IngestError(
            f"{where(path, start, column)}: malformed quoting ({exc}); a field "
            'that opens a quote must close it, and a quote inside one is written ""',
            rule="balanced quotes",
            column=column,
            examples=(opened[:60],),
            line=start,
        ) from None
    return None


def scan(path: Path | str, text: str) -> list[str]:
    """The header of CSV `text`, once every row is known to fit it.

    Raises `IngestError` at the first row whose number of fields differs from the
    header's, at a quoted field that is never closed, at a NUL byte, at a repeated
    or missing header.
    """
    header = _header(path, text)
    problem = _nul(path, text, header)
    if problem is not None:
        raise problem
    bad = (_ragged_fast if plain(text) else _ragged)(path, text, header)
    if bad is None:
        return header
    start, row = bad
    short = len(row) < len(header)
    column = header[len(row)] if short else None
    what = (
        f"no field for {column!r} onward"
        if short
        else f"{len(row) - len(header)} field(s) past the last column"
    )
    raise IngestError(
        f"{where(path, start, column)}: {len(row)} fields where the "
        f"header has {len(header)} ({what}); every row needs one field "
        "per column (quote fields that hold commas)",
        rule="same number of fields as the header",
        column=column,
        examples=(",".join(row)[:60],),
        line=start,
    )


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:  # the serving install has none
        return False
    return True


def read_csv_text(path: Path) -> pd.DataFrame:
    """Read `path` as a table of strings; refuse a malformed file with `IngestError`."""
    import pandas as pd

    if not path.is_file():
        raise IngestError(f"{path}: file not found", rule="file exists")
    data = path.read_bytes()
    if not data:
        raise IngestError(
            f"{where(path, 1, None)}: the file is empty (0 bytes)",
            rule="not empty",
            line=1,
        )
    text = decode(path, data)
    scan(path, text)
    # pyarrow's reader is several times faster, but it reads a quoted field that
    # spans lines as two rows; the C reader takes those.
    engine = "pyarrow" if plain(text) and _has_pyarrow() else "c"
    try:
        return pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, engine=engine
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
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
            f"{where(source, 1, None)}: found one column {actual[0][:60]!r}...; the "
            "file does not look comma-separated (is it ';' or tab separated?)",
            rule="comma-separated",
            examples=(actual[0][:60],),
            line=1,
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
            f"{where(source, 1, None)}: {'; '.join(parts)}",
            rule="exact column set",
            column=", ".join(missing + extra),
            count=len(missing + extra),
            examples=tuple(missing + extra),
            line=1,
        )
    raise IngestError(
        f"{where(source, 1, None)}: columns are out of order; expected {expected}",
        rule="column order",
        examples=tuple(actual),
        line=1,
    )


def require_rows(raw: pd.DataFrame, source: str) -> None:
    """Raise unless `raw` holds at least one row below its header."""
    if raw.empty:
        raise IngestError(
            f"{where(source, 2, None)}: the file has a header but no rows",
            rule="has rows",
            line=2,
        )
