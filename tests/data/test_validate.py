"""The GX suite: derived from the contract, passes clean data, fails bad data."""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from churn import contract
from churn.data import expectations, validate

SUITE_FILE = (
    Path(__file__).resolve().parents[2] / "gx" / "expectations" / "churn_batch.json"
)


def _comparable(items: list[dict]) -> list[tuple]:
    return [
        (
            e["type"],
            json.dumps(e["kwargs"], sort_keys=True),
            e.get("notes"),
            e.get("description"),
        )
        for e in items
    ]


def test_committed_suite_is_generated_from_the_contract(tmp_path: Path) -> None:
    # Regenerate the suite from the contract in a scratch context and compare it
    # with the committed one: a contract edit without `churn expectations` fails here.
    (tmp_path / "gx").mkdir()
    fresh = json.loads(expectations.write(tmp_path).read_text())["expectations"]
    committed = json.loads(SUITE_FILE.read_text())["expectations"]
    assert _comparable(committed) == _comparable(fresh)


def test_regenerating_an_unchanged_suite_changes_no_byte(tmp_path: Path) -> None:
    shutil.copytree(SUITE_FILE.parents[1], tmp_path / "gx")
    before = SUITE_FILE.read_bytes()
    assert expectations.write(tmp_path).read_bytes() == before


def test_every_contract_column_is_checked() -> None:
    checked = {e["kwargs"].get("column") for e in expectations.build()}
    assert set(contract.names()) <= checked
    assert all(e["notes"] for e in expectations.build())


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
                    "notes": "labels",
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


def _committed(type_: str, column: str) -> dict:
    """The kwargs of the committed expectation `type_` on `column` (no conditions)."""
    (match,) = [
        e["kwargs"]
        for e in json.loads(SUITE_FILE.read_text())["expectations"]
        if e["type"] == type_
        and e["kwargs"].get("column") == column
        and "row_condition" not in e["kwargs"]
        and "mostly" not in e["kwargs"]
    ]
    return match


@pytest.mark.parametrize("col", contract.COLUMNS, ids=lambda c: c.name)
def test_ingest_contract_and_suite_agree_on_each_column(
    col: contract.Column, table: pd.DataFrame
) -> None:
    # The three views of one column: what ingest produces, what the contract says,
    # and what the committed suite checks. That GX accepts ingest's dtype under the
    # contract's type name is shown by the clean data passing the suite.
    assert str(table[col.name].dtype) == col.dtype
    kinds = "expect_column_values_to_be_in_type_list"
    assert _committed(kinds, col.name)["type_list"] == [col.gx_type]
    if col.allowed is not None:
        in_set = _committed("expect_column_values_to_be_in_set", col.name)
        assert in_set["value_set"] == list(col.allowed)
    if col.minimum is not None or col.maximum is not None:
        between = _committed("expect_column_values_to_be_between", col.name)
        assert (between.get("min_value"), between.get("max_value")) == (
            col.minimum,
            col.maximum,
        )
    null_check = [
        e
        for e in json.loads(SUITE_FILE.read_text())["expectations"]
        if e["type"] == "expect_column_values_to_not_be_null"
        and e["kwargs"] == {"column": col.name}
    ]
    assert len(null_check) == (0 if col.nullable else 1)


def test_suite_schema_is_the_contract_and_ingest_order(table: pd.DataFrame) -> None:
    committed = json.loads(SUITE_FILE.read_text())["expectations"]
    (columns,) = [
        e["kwargs"]["column_list"]
        for e in committed
        if e["type"] == "expect_table_columns_to_match_ordered_list"
    ]
    assert columns == contract.names() == list(table.columns)


def test_ratio_to_product_is_row_wise() -> None:
    from churn.data import gx_rules

    frame = pd.DataFrame(
        {"total": [100.0, 50.0, 10.0], "price": [10.0, 10.0, 5.0], "months": [10, 0, 2]}
    )
    ratio = gx_rules.ratio_to_product(frame)
    assert ratio[0] == 1.0 and pd.isna(ratio[1]) and ratio[2] == 1.0


def _failed(summary: dict) -> dict[tuple[str, str], dict]:
    return {(f["expectation"], f["column"]): f for f in summary["failures"]}


def test_total_far_from_monthly_times_tenure_is_caught(
    table: pd.DataFrame, gx_root: Path
) -> None:
    bad = table.copy()
    # Three billed customers whose total is a third of what their tenure implies:
    # every single value is plausible, only the relation between them is not.
    rows = bad.index[bad["tenure"].ge(24)][:3]
    bad.loc[rows, "total_charges"] = (
        bad.loc[rows, "monthly_charges"] * bad.loc[rows, "tenure"] / 3
    ).round(2)
    summary = validate.check_table(bad, gx_root)
    ratio = _failed(summary)[
        "expect_multicolumn_ratio_to_product_to_be_between",
        "total_charges,monthly_charges,tenure",
    ]
    assert summary["failed"] == 1
    assert ratio["unexpected_count"] == 3
    assert ratio["examples"][0] == {
        "total_charges": bad.loc[rows[0], "total_charges"],
        "monthly_charges": bad.loc[rows[0], "monthly_charges"],
        "tenure": int(bad.loc[rows[0], "tenure"]),
    }
    assert ratio["rule"] == "0.5 <= x <= 2 where tenure > 0"
    assert "swapped" in ratio["why"]


def test_total_charges_null_only_before_the_first_bill(
    table: pd.DataFrame, gx_root: Path
) -> None:
    bad = table.copy()
    billed = bad.index[bad["tenure"].gt(0)][:2]
    unbilled = bad.index[bad["tenure"].eq(0)][:1]
    bad.loc[billed, "total_charges"] = None
    bad.loc[unbilled, "total_charges"] = bad.loc[unbilled, "monthly_charges"]
    failed = _failed(validate.check_table(bad, gx_root))
    assert set(failed) == {
        ("expect_column_values_to_not_be_null", "total_charges"),
        ("expect_column_values_to_be_null", "total_charges"),
    }
    assert (
        failed["expect_column_values_to_not_be_null", "total_charges"][
            "unexpected_count"
        ]
        == 2
    )
    assert failed["expect_column_values_to_be_null", "total_charges"]["rule"] == (
        "where tenure == 0"
    )


def test_check_table_writes_nothing(table: pd.DataFrame, gx_root: Path) -> None:
    reports = gx_root / "reports"
    shutil.rmtree(reports, ignore_errors=True)
    summary = validate.check_table(table.head(1500), gx_root)
    assert summary["success"] and summary["rows"] == 1500
    assert summary["expectations"] == len(expectations.build())
    # Opening the context creates the stores' folders; nothing is stored in them.
    assert not list(reports.rglob("*.json"))
    assert not list(reports.rglob("*.html"))


def test_check_table_and_the_checkpoint_agree(
    table: pd.DataFrame, gx_root: Path
) -> None:
    bad = table.copy()
    bad.loc[:1, "payment_method"] = "Bitcoin"
    through_checkpoint = validate.summarize(validate.run_suite(bad, gx_root), len(bad))
    assert validate.check_table(bad, gx_root) == through_checkpoint
    # The checkpoint also rendered the failure, with its examples, as Data Docs.
    docs = gx_root / "reports" / "validation" / "data_docs"
    assert (docs / "index.html").exists()
    pages = [p.read_text() for p in (docs / "validations").rglob("*.html")]
    assert any("Bitcoin" in page and "payment_method" in page for page in pages)


def test_data_docs_are_built_on_a_failure_even_when_not_asked(
    table: pd.DataFrame, tmp_path: Path
) -> None:
    # validate skips them for a batch that passes and is not its last (the next
    # starts from an empty report folder), never for one that fails: a person
    # opens them to see why.
    shutil.copytree(SUITE_FILE.parents[1], tmp_path / "gx")
    docs = tmp_path / "reports" / "validation" / "data_docs" / "index.html"
    good = table.head(1500)
    passed = validate.run_suite(good, tmp_path, docs_if_passed=False)
    assert validate.summarize(passed, rows=len(good))["success"]
    assert not docs.exists()
    bad = good.copy()
    bad.loc[0, "tenure"] = 480
    failed = validate.run_suite(bad, tmp_path, docs_if_passed=False)
    assert not validate.summarize(failed, rows=len(bad))["success"]
    assert docs.is_file()


def test_too_few_rows_reports_the_observed_count(
    table: pd.DataFrame, gx_root: Path
) -> None:
    summary = validate.check_table(table.head(40), gx_root)
    failed = _failed(summary)
    count = failed["expect_table_row_count_to_be_between", "(table)"]
    assert count["examples"] == [40] and count["rule"] == f">= {contract.MIN_ROWS}"


def test_rule_text_reads_like_the_rule() -> None:
    assert validate.rule_text({"min_value": 0, "max_value": 72}) == "0 <= x <= 72"
    assert validate.rule_text({"value_set": ["No"], "mostly": 0.6}) == (
        "in {No} for at least 60% of rows"
    )
    assert validate.rule_text({"type_list": ["Int64Dtype"]}) == "type Int64Dtype"
    assert validate.rule_text({"column": "x"}) == ""


def test_failure_table_is_numbered_and_explains_each_rule() -> None:
    summary = {
        "failures": [
            {
                "expectation": "expect_column_values_to_be_between",
                "column": "tenure",
                "rule": "0 <= x <= 72",
                "unexpected_count": 4,
                "unexpected_share": 0.000568,
                "examples": [480, 480],
                "why": "range: months as a customer",
            },
            {
                "expectation": "expect_multicolumn_ratio_to_product_to_be_between",
                "column": "a,b",
                "rule": "",
                "unexpected_count": None,
                "unexpected_share": None,
                "examples": [{"a": 1.0, "b": "x" * 200}],
                "why": "consistency",
            },
        ]
    }
    lines = validate.format_failures(summary).splitlines()
    assert lines[0].split() == [
        "#",
        "expectation",
        "column",
        "unexpected",
        "share",
        "examples",
    ]
    assert lines[1].split() == [
        "1",
        "expect_column_values_to_be_between",
        "tenure",
        "4",
        "0.06%",
        "480,",
        "480",
    ]
    assert "a=1.0 b='xxx" in lines[2] and lines[2].endswith("...")
    assert lines[3] == "rules and why they exist:"
    assert lines[4] == " 1. tenure [0 <= x <= 72]: range: months as a customer"
    assert lines[5] == " 2. a,b: consistency"


def test_ingest_failure_is_summarised_like_an_expectation() -> None:
    from churn.data import ingest

    err = ingest.IngestError(
        "b.csv: column 'tenure' must be numeric",
        rule="numeric",
        column="tenure",
        count=2,
        examples=("n/a", "?"),
    )
    summary = validate.ingest_failure(err)
    assert not summary["success"] and summary["failed"] == 1
    (failure,) = summary["failures"]
    assert failure["expectation"] == "ingest: numeric"
    assert failure["column"] == "tenure" and failure["examples"] == ["n/a", "?"]


def test_type_checks_catch_a_reader_that_drifts(
    table: pd.DataFrame, gx_root: Path
) -> None:
    # Were ingest to start producing other dtypes, the suite would stop the batch.
    drifted = table.astype({"tenure": "float64", "churn": "category"})
    failed = _failed(validate.check_table(drifted, gx_root))
    assert ("expect_column_values_to_be_in_type_list", "tenure") in failed
    assert ("expect_column_values_to_be_in_type_list", "churn") in failed


# ------------------------------------------------ a suite that is not the contract's


def test_the_committed_suite_runs_the_contracts_expectations(
    clean_result: dict,
) -> None:
    ran = [item["expectation_config"] for item in clean_result["results"]]
    assert validate.suite_problem(ran) is None


def _edited_suite(root: Path, edit) -> Path:
    """A copy of the committed context whose suite's expectations `edit` rewrites."""
    shutil.copytree(SUITE_FILE.parents[1], root / "gx")
    suite = root / "gx" / "expectations" / SUITE_FILE.name
    data = json.loads(suite.read_text())
    data["expectations"] = edit(data["expectations"])
    suite.write_text(json.dumps(data))
    return root


def _bad_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Rows the contract refuses: a tenure of 40 years, an unknown contract type."""
    bad = table.head(60).copy()
    bad.loc[:2, "tenure"] = 480
    bad.loc[:2, "contract"] = "Three year"
    return bad


def test_an_emptied_suite_judges_nothing(table: pd.DataFrame, tmp_path: Path) -> None:
    # With no expectation left, GX reports success for any batch.
    root = _edited_suite(tmp_path, lambda items: [])
    summary = validate.check_table(_bad_rows(table), root)
    # Neither passed nor failed: the gate cannot judge it.
    assert summary["success"] is None
    (failure,) = summary["failures"]
    assert failure["column"] == "(suite)"
    count = len(expectations.build())
    assert (
        f"holds 0 expectations where src/churn/contract.py has {count}"
        in (failure["why"])
    )
    assert f"{count} missing" in failure["why"]
    assert "churn expectations" in failure["why"]


def test_a_loosened_bound_is_named(table: pd.DataFrame, tmp_path: Path) -> None:
    def loosen(items: list[dict]) -> list[dict]:
        for item in items:
            if (
                item["kwargs"].get("column") == "tenure"
                and "max_value" in item["kwargs"]
            ):
                item["kwargs"]["max_value"] = 1000
        return items

    root = _edited_suite(tmp_path, loosen)
    with pytest.raises(validate.SuiteError) as raised:
        validate.run_suite(_bad_rows(table), root)
    problem = str(raised.value)
    # Refused before running: no stored result, no Data Docs saying it passed.
    reports = root / "reports" / "validation"
    assert not list(reports.glob("results/**/*.json"))
    assert not (reports / "data_docs").exists()
    assert "1 missing, e.g. expect_column_values_to_be_between tenure 0 <= x <= 72" in (
        problem
    )
    loose = "expect_column_values_to_be_between tenure 0 <= x <= 1000"
    assert f"1 not in the contract, e.g. {loose}" in problem


def test_validate_stops_a_batch_its_suite_cannot_judge(
    table: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    root = _edited_suite(tmp_path / "project", lambda items: [])
    source = tmp_path / "batch.csv"
    _bad_rows(table).to_csv(source, index=False)
    metrics = tmp_path / "metrics" / "validation.json"
    monkeypatch.setattr(validate.config, "VALIDATION_METRICS", metrics)
    monkeypatch.setattr(
        validate.config,
        "VALIDATION_RESULT",
        tmp_path / "reports" / "validation" / "result.json",
    )
    run_suite = validate.run_suite
    monkeypatch.setattr(
        validate,
        "run_suite",
        lambda frame, gx_root=None, **kw: run_suite(frame, root, **kw),
    )
    out = tmp_path / "validated.parquet"
    assert validate.validate_source(source, out) == 1
    assert not out.exists()
    assert json.loads(metrics.read_text()) == {
        "success": None,
        "rows": 60,
        "expectations": 0,
        "failed": 0,
    }
    assert f"{source}: batch not judged: the suite 'churn_batch' holds 0" in (
        caplog.text
    )
