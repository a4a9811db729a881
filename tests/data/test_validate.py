"""The GX suite: derived from the contract, passes clean data, fails bad data."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from churn import contract, expectations, validate

SUITE_FILE = (
    Path(__file__).resolve().parents[2] / "gx" / "expectations" / "churn_batch.json"
)


def _comparable(items: list[dict]) -> list[tuple]:
    return [
        (e["type"], json.dumps(e["kwargs"], sort_keys=True), e["meta"].get("why"))
        for e in items
    ]


def test_committed_suite_is_generated_from_the_contract(tmp_path: Path) -> None:
    # Regenerate the suite from the contract in a scratch context and compare it
    # with the committed one: a contract edit without `churn expectations` fails here.
    (tmp_path / "gx").mkdir()
    fresh = json.loads(expectations.write(tmp_path).read_text())["expectations"]
    committed = json.loads(SUITE_FILE.read_text())["expectations"]
    assert _comparable(committed) == _comparable(fresh)


def test_every_contract_column_is_checked() -> None:
    checked = {e["kwargs"].get("column") for e in expectations.build()}
    assert set(contract.names()) <= checked
    assert all(e["meta"]["why"] for e in expectations.build())


@pytest.fixture(scope="module")
def gx_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the committed context: results and Data Docs go to a scratch dir."""
    root = tmp_path_factory.mktemp("gx")
    shutil.copytree(SUITE_FILE.parents[1], root / "gx")
    return root


@pytest.fixture(scope="module")
def clean_result(table: pd.DataFrame, gx_root: Path) -> dict:
    return validate.run_suite(table, gx_root)


def test_clean_data_passes(clean_result: dict, table: pd.DataFrame) -> None:
    summary = validate.summarize(clean_result, rows=len(table))
    assert summary["success"], validate.format_failures(summary)
    assert summary["failed"] == 0 and summary["expectations"] == len(
        expectations.build()
    )


def test_out_of_range_and_unknown_category_are_reported(
    table: pd.DataFrame, gx_root: Path
) -> None:
    bad = table.copy()
    bad.loc[:2, "tenure"] = 480
    bad.loc[5, "contract"] = "Three year"
    summary = validate.summarize(validate.run_suite(bad, gx_root), rows=len(bad))
    assert not summary["success"]
    failed = {(f["expectation"], f["column"]): f for f in summary["failures"]}
    tenure = failed["expect_column_values_to_be_between", "tenure"]
    assert tenure["unexpected_count"] == 3 and tenure["examples"] == [480, 480, 480]
    assert failed["expect_column_values_to_be_in_set", "contract"]["examples"] == [
        "Three year"
    ]
    text = validate.format_failures(summary)
    assert "tenure" in text and "'Three year'" in text


def test_summarize_keeps_what_a_person_needs() -> None:
    result = {
        "results": [
            {"success": True, "expectation_config": {"type": "x", "kwargs": {}}},
            {
                "success": False,
                "expectation_config": {
                    "type": "expect_column_values_to_be_in_set",
                    "kwargs": {"column": "churn"},
                    "meta": {"why": "labels"},
                },
                "result": {
                    "unexpected_count": 7,
                    "unexpected_percent": 70.0,
                    "partial_unexpected_list": ["Maybe"] * 7,
                },
            },
        ]
    }
    summary = validate.summarize(result, rows=10)
    assert summary["failed"] == 1 and summary["expectations"] == 2
    (failure,) = summary["failures"]
    assert failure["unexpected_share"] == 0.7
    assert failure["examples"] == ["Maybe"] * 5
    assert failure["why"] == "labels"
