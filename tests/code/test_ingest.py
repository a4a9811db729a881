"""The ingest reader: the contract's typed table, or an error naming what is wrong."""

from pathlib import Path

import pandas as pd
import pytest

from churn import contract
from churn.data import batches, cleaning, ingest
from conftest import SOURCE


def test_bundled_data_gets_contract_dtypes(table: pd.DataFrame) -> None:
    assert list(table.columns) == contract.names()
    assert len(table) == 7043
    assert {c: str(t) for c, t in table.dtypes.items()} == contract.pandas_dtypes()
    assert table["total_charges"].isna().sum() == 11


def test_whitespace_counts_as_blank(csv_copy: Path) -> None:
    # The original IBM export writes " " for the missing total charges.
    text = csv_copy.read_text().replace(",Mailed check,20.2,", ",Mailed check,20.2, ")
    lines = text.splitlines()
    lines[1] = lines[1].rsplit(",", 1)[0] + ", "
    csv_copy.write_text("\n".join(lines) + "\n")
    assert pd.isna(ingest.read_batch(csv_copy).loc[0, "total_charges"])


def _rewrite(path: Path, edit) -> Path:
    path.write_text(edit(path.read_text()))
    return path


@pytest.mark.parametrize(
    ("edit", "message", "rule", "column"),
    [
        (lambda t: "", "empty", "not empty", None),
        (lambda t: t.splitlines()[0] + "\n", "header but no rows", "has rows", None),
        (lambda t: t.replace(",", ";"), "comma-separated", "comma-separated", None),
        (lambda t: t.replace(",", "\t"), "tab separated", "comma-separated", None),
        (
            # A name gone from the header alone: every row has a field too many.
            lambda t: t.replace("customer_id,churn,", "customer_id,"),
            "line 2: 21 fields where the header has 20",
            "same number of fields as the header",
            None,
        ),
        (
            # A name added to the header alone: no row has a field for it.
            lambda t: t.replace(",total_charges\n", ",total_charges,x\n"),
            "line 2, column 'x': 21 fields where the header has 22",
            "same number of fields as the header",
            "x",
        ),
        (
            lambda t: t.replace("customer_id,churn,", "churn,customer_id,", 1),
            "out of order",
            "column order",
            None,
        ),
        (
            lambda t: t.replace(",29.85,29.85", ",29.85,abc"),
            "line 2: column 'total_charges' must be",
            "numeric",
            "total_charges",
        ),
        (
            lambda t: t.replace("\n2,No,0,0,0,0,34,", "\n2,No,0,0,0,0,3.5,"),
            "whole",
            "whole numbers",
            "tenure",
        ),
        (
            lambda t: t + t.splitlines()[1] + "\n",
            "line 7045: each row once",
            "no duplicated rows",
            "(all columns)",
        ),
        (
            lambda t: t.replace("\n3,Yes,", "\n3,Yes,,", 1),
            "line 4: 22 fields where the header has 21",
            "same number of fields as the header",
            None,
        ),
    ],
    ids=[
        "empty",
        "header-only",
        "semicolons",
        "tabs",
        "header-lacks-a-name",
        "header-has-a-name-too-many",
        "columns-out-of-order",
        "text-in-number",
        "fraction-in-integer",
        "duplicate-row",
        "ragged-row",
    ],
)
def test_bad_files_raise_clear_errors(
    csv_copy: Path, edit, message: str, rule: str, column: str | None
) -> None:
    _rewrite(csv_copy, edit)
    with pytest.raises(ingest.IngestError, match=message) as err:
        ingest.read_batch(csv_copy)
    assert str(csv_copy) in str(err.value)
    assert (err.value.rule, err.value.column) == (rule, column)


def test_numeric_error_quotes_the_offending_values(csv_copy: Path) -> None:
    # Some tool wrote "n/a" where the price was; say how many and show a few.
    price = ",Mailed check,20.2,"
    count = csv_copy.read_text().count(price)
    _rewrite(csv_copy, lambda t: t.replace(price, ",Mailed check,n/a,"))
    with pytest.raises(ingest.IngestError) as err:
        ingest.read_batch(csv_copy)
    assert (err.value.column, err.value.count) == ("monthly_charges", count)
    assert err.value.examples == ("n/a",) * ingest.EXAMPLES
    assert f"{count} value(s) do not, e.g. 'n/a'" in str(err.value)
    assert err.value.line == 2 + csv_copy.read_text().splitlines()[1:].index(
        next(line for line in csv_copy.read_text().splitlines() if "n/a" in line)
    )


def test_missing_column_is_named(csv_copy: Path) -> None:
    frame = pd.read_csv(csv_copy, dtype=str, keep_default_na=False)
    frame.drop(columns="churn").to_csv(csv_copy, index=False)
    with pytest.raises(ingest.IngestError, match="line 1: missing column") as err:
        ingest.read_batch(csv_copy)
    assert (err.value.rule, err.value.column) == ("exact column set", "churn")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ingest.IngestError, match="file not found"):
        ingest.read_batch(tmp_path / "nope.csv")


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_wrong_encoding(csv_copy: Path, encoding: str) -> None:
    text = csv_copy.read_text().replace("Electronic check", "Électronic check")
    csv_copy.write_bytes(text.encode(encoding))
    with pytest.raises(ingest.IngestError, match="not UTF-8") as err:
        ingest.read_batch(csv_copy)
    assert err.value.rule == "UTF-8 encoding"


def test_byte_order_mark_is_accepted(csv_copy: Path) -> None:
    csv_copy.write_bytes(csv_copy.read_text().encode("utf-8-sig"))
    assert list(ingest.read_batch(csv_copy).columns) == contract.names()


@pytest.fixture()
def months_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bundled upstream's months file, where the entry point reads it."""
    path = tmp_path / "months.json"
    upstream = ingest.read_csv_text(SOURCE)[contract.ID]
    batches.write_json(batches.calendar(upstream, 7), path)
    monkeypatch.setattr(ingest.config, "MONTHS_FILE", path)
    return path


@pytest.mark.usefixtures("months_file")
def test_entry_point_writes_parquet(csv_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "raw.parquet"
    assert ingest.main(["--source", str(csv_copy), "--out", str(out)]) == 0
    assert len(pd.read_parquet(out)) == 7043


@pytest.mark.usefixtures("months_file")
def test_entry_point_fails_without_writing(tmp_path: Path) -> None:
    out = tmp_path / "raw.parquet"
    assert ingest.main(["--source", str(tmp_path / "nope.csv"), "--out", str(out)]) == 1
    assert not out.exists()


def test_each_row_gets_the_month_it_arrived_in(table: pd.DataFrame) -> None:
    upstream = ingest.read_csv_text(SOURCE)[contract.ID]
    # Rows in any order, a subset of the upstream: the month is the batches rule's.
    rows = table.sample(frac=0.3, random_state=0)
    tagged = ingest.with_month(rows, batches.calendar(upstream, 7), source="t.csv")
    expected = batches.assign_months(upstream, 7).set_axis(upstream.astype(int))
    assert list(tagged.columns) == [*contract.names(), contract.MONTH]
    assert tagged[contract.MONTH].dtype == "Int64"
    assert tagged[contract.MONTH].tolist() == expected[rows[contract.ID]].tolist()


def test_a_customer_the_upstream_lacks_has_no_month(table: pd.DataFrame) -> None:
    upstream = ingest.read_csv_text(SOURCE)[contract.ID]
    stranger = table.head(3).assign(**{contract.ID: pd.array([1, 2, 99999], "Int64")})
    with pytest.raises(ingest.IngestError, match="99999") as err:
        ingest.with_month(stranger, batches.calendar(upstream, 7), source="t.csv")
    assert err.value.column == contract.ID


def test_month_is_neither_a_feature_nor_a_request_field(table: pd.DataFrame) -> None:
    from churn.delivery import schema

    assert contract.MONTH not in contract.feature_names()
    assert contract.MONTH not in contract.names()
    request = schema.build_request_model(10)
    customer = (
        cleaning.clean(table.head(1))[contract.feature_names()]
        .astype(object)
        .iloc[0]
        .to_dict()
    )
    customer = {
        k: (int(v) if contract.column(k).kind in ("flag", "integer") else v)
        for k, v in customer.items()
    }
    request.model_validate({"customers": [customer]})
    with pytest.raises(ValueError, match="month"):
        request.model_validate({"customers": [customer | {contract.MONTH: 1}]})
    check = schema.ColumnCheck(10)
    assert check.columns({"customers": [customer | {contract.MONTH: 1}]}) is None


@pytest.mark.usefixtures("months_file")
def test_entry_point_writes_the_month_column(csv_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "raw.parquet"
    assert ingest.main(["--source", str(csv_copy), "--out", str(out)]) == 0
    months = pd.read_parquet(out)[contract.MONTH]
    assert sorted(months.unique()) == list(range(1, 8))


@pytest.mark.parametrize(
    "cells",
    [
        ["1", "1.5", "", "1e3", "-2", "+3", ".5", "5.", "00012", "1E+3"],
        # Arrow refuses these; pandas then reads the column and names the bad cells.
        ["1", "1_000", "0x10", "1,5", "NA", "nan", "inf", ""],
    ],
    ids=["arrow-reads-all", "pandas-fallback"],
)
def test_numbers_reads_cells_as_pandas_does(cells: list[str]) -> None:
    text = pd.Series(cells, dtype="str")
    expected = pd.to_numeric(text.mask(text.eq("")), errors="coerce")
    pd.testing.assert_series_equal(
        ingest.numbers(text), expected.astype("float64"), check_exact=True
    )
