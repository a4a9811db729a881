"""Malformed upstream files: each refusal names file, line, column and rule.

The same reader serves `batches` (the upstream snapshot, before any validation) and
`ingest` (the batches it cut), so a file is refused alike wherever it arrives.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from churn.data import batches, csvfile

HEADER = "customer_id,churn,female,tenure,payment_method\n"
ROWS = [
    "1,No,0,1,Electronic check\n",
    "2,No,1,34,Mailed check\n",
    "3,Yes,1,2,Mailed check\n",
]


def _file(tmp_path: Path, data: bytes | str) -> Path:
    path = tmp_path / "upstream.csv"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


#: name: (file bytes, line, column, rule, words the message must hold)
CASES = {
    "row-with-a-field-too-many": (
        HEADER + ROWS[0] + "2,No,1,34,Mailed check,extra\n" + ROWS[2],
        3,
        None,
        "same number of fields as the header",
        "6 fields where the header has 5",
    ),
    "row-with-fields-missing": (
        HEADER + ROWS[0] + ROWS[1] + "3,Yes,1\n",
        4,
        "tenure",
        "same number of fields as the header",
        "no field for 'tenure' onward",
    ),
    "unterminated-quote": (
        HEADER + ROWS[0] + '2,No,1,34,"Mailed check\n' + ROWS[2],
        3,
        "payment_method",
        "balanced quotes",
        "must close it",
    ),
    "nul-byte": (
        HEADER + ROWS[0] + "2,No,1,3\x004,Mailed check\n" + ROWS[2],
        3,
        "tenure",
        "no NUL bytes",
        "NUL byte",
    ),
    "latin-1": (
        (HEADER + ROWS[0] + ROWS[1] + "3,Yes,1,2,Chèque\n").encode("latin-1"),
        4,
        "payment_method",
        "UTF-8 encoding",
        "not UTF-8 text (byte b'\\xe8'",
    ),
    "utf-16": (
        (HEADER + "".join(ROWS)).encode("utf-16"),
        1,
        None,
        "UTF-8 encoding",
        "re-save the file as UTF-8",
    ),
    "empty-file": (b"", 1, None, "not empty", "empty (0 bytes)"),
    "blank-lines-only": ("\n\n\n", 1, None, "header row", "no header row"),
    "duplicate-header-names": (
        "customer_id,churn,tenure,tenure,payment_method\n" + "".join(ROWS),
        1,
        "tenure",
        "unique column names",
        "'tenure' is named 2 times",
    ),
}


@pytest.mark.parametrize("name", CASES)
def test_a_malformed_file_is_refused_with_its_place_and_rule(
    name: str, tmp_path: Path
) -> None:
    data, line, column, rule, words = CASES[name]
    path = _file(tmp_path, data)
    with pytest.raises(csvfile.IngestError) as err:
        csvfile.read_csv_text(path)
    message = str(err.value)
    assert (err.value.line, err.value.column, err.value.rule) == (line, column, rule)
    assert message.startswith(f"{path}, line {line}"), message
    if column is not None:
        assert f"column {column!r}" in message
    assert words in message


def test_a_well_formed_file_reads_as_text(tmp_path: Path) -> None:
    text = HEADER + ROWS[0] + '2,No,1,34,"Mailed, check"\n' + ROWS[2]
    table = csvfile.read_csv_text(_file(tmp_path, text))
    assert table.shape == (3, 5) and table.loc[1, "payment_method"] == "Mailed, check"
    assert table.loc[0, "tenure"] == "1"


#: Quote-free texts, well formed or ragged, with the line endings files come with.
PLAIN = {
    "well-formed": HEADER + "".join(ROWS),
    "crlf": (HEADER + "".join(ROWS)).replace("\n", "\r\n"),
    "blank-lines-between": HEADER + ROWS[0] + "\n\r\n" + ROWS[1],
    "no-final-newline": HEADER + "".join(ROWS).rstrip("\n"),
    "too-many": HEADER + ROWS[0] + "2,No,1,34,Mailed check,,\r\n",
    "too-few-last": HEADER + ROWS[0] + "3,Yes",
    "blank-field-row": HEADER + ROWS[0] + " \n" + ROWS[1],
    "only-commas": HEADER + ",,,,\n" + ",,,\n",
}


@pytest.mark.parametrize("name", PLAIN)
def test_the_quote_free_path_finds_what_the_csv_module_finds(name: str) -> None:
    # Files without quotes skip the csv module, which is slow on a million rows;
    # both ways must find the same first ragged row, or none.
    text = PLAIN[name]
    header = csvfile._header("f.csv", text)
    expected = csvfile._ragged("f.csv", text, header)
    assert csvfile._ragged_fast("f.csv", text, header) == expected
    fits = {"well-formed", "crlf", "blank-lines-between", "no-final-newline"}
    assert (expected is None) is (name in fits)


def test_a_header_without_rows_is_refused_at_line_2() -> None:
    raw = pd.DataFrame(columns=["a"])
    with pytest.raises(csvfile.IngestError, match="x.csv, line 2: .* no rows") as err:
        csvfile.require_rows(raw, "x.csv")
    assert err.value.rule == "has rows"


def test_an_id_that_is_no_number_has_no_month() -> None:
    ids = pd.Series(["1", "2", "", "x4"])
    with pytest.raises(csvfile.IngestError) as err:
        batches.arrival_order(ids, "up.csv")
    assert err.value.line == 4 and err.value.column == "customer_id"
    assert err.value.count == 2 and "up.csv, line 4, column 'customer_id'" in str(
        err.value
    )


@pytest.mark.parametrize(
    "name",
    [
        "row-with-a-field-too-many",
        "row-with-fields-missing",
        "unterminated-quote",
        "nul-byte",
        "latin-1",
        "duplicate-header-names",
    ],
)
def test_batches_refuses_a_malformed_upstream_before_writing(
    name: str, tmp_path: Path, monkeypatch, caplog
) -> None:
    data, line, column, rule, _ = CASES[name]
    path = _file(tmp_path, data)
    latest, everything = tmp_path / "latest.csv", tmp_path / "all.csv"
    monkeypatch.setattr(batches.config, "LATEST_BATCH", latest)
    monkeypatch.setattr(batches.config, "ALL_BATCHES", everything)
    monkeypatch.setattr(
        batches,
        "_params",
        lambda: {"source": str(path), "months": 2, "through_month": 1, "shifts": {}},
    )
    with caplog.at_level(logging.ERROR):
        assert batches.main([]) == 1
    assert f"{path}, line {line}" in caplog.text
    assert column is None or f"column {column!r}" in caplog.text
    assert "Traceback" not in caplog.text
    assert not latest.exists() and not everything.exists()


def test_batches_refuses_ids_it_cannot_order(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    from conftest import SOURCE

    text = SOURCE.read_text().replace("\n5,", "\nfive,", 1)
    path = _file(tmp_path, text)
    monkeypatch.setattr(batches.config, "LATEST_BATCH", tmp_path / "latest.csv")
    monkeypatch.setattr(batches.config, "ALL_BATCHES", tmp_path / "all.csv")
    monkeypatch.setattr(
        batches,
        "_params",
        lambda: {"source": str(path), "months": 7, "through_month": 1, "shifts": {}},
    )
    assert batches.main([]) == 1
    assert f"{path}, line 6, column 'customer_id': 'five'" in caplog.text
    assert "whole number" in caplog.text
