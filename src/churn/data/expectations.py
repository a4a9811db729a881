"""The Great Expectations suite, generated from the data contract.

`build()` turns `churn.contract` into plain expectation configurations (type, kwargs,
and a note saying why the rule exists, which Data Docs show beside it);
`churn expectations` writes them into the file context in `gx/` so the
committed suite is always the contract's. Great Expectations itself is imported only
when writing, because its import takes seconds.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from churn import config, contract

log = logging.getLogger(__name__)

SUITE = "churn_batch"
DATA_SOURCE = "churn"
ASSET = "batch"
BATCH_DEFINITION = "whole_batch"
CHECKPOINT = "churn_batch"
#: How many example values a failed expectation keeps.
EXAMPLES = 5
#: SUMMARY keeps counts and a few examples; COMPLETE would copy every bad value of a
#: million-row batch into the result.
RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": EXAMPLES}

Expectation = dict[str, Any]


def _expect(type_: str, why: str, **kwargs: Any) -> Expectation:
    """One expectation configuration; `why` becomes the note Data Docs show."""
    return {"type": type_, "kwargs": kwargs, "notes": why}


def _where(column: str, operator: str, value: float) -> dict[str, Any]:
    """A GX row condition (`Column(column) <operator> value`) in its JSON form."""
    return {
        "type": "comparison",
        "column": {"name": column},
        "operator": operator,
        "parameter": value,
    }


def _column_rules(col: contract.Column) -> list[Expectation]:
    """Nullability, type, allowed values and range of one contract column."""
    out = []
    if not col.nullable:
        out.append(
            _expect(
                "expect_column_values_to_not_be_null",
                f"missing values: {col.name} is always known; {col.why}",
                column=col.name,
            )
        )
    out.append(
        _expect(
            "expect_column_values_to_be_in_type_list",
            f"types: ingest reads {col.name} as {col.dtype}; anything else means "
            "the reader and the contract disagree",
            column=col.name,
            type_list=[col.gx_type],
        )
    )
    if col.allowed is not None:
        out.append(
            _expect(
                "expect_column_values_to_be_in_set",
                f"allowed values: {col.why}",
                column=col.name,
                value_set=list(col.allowed),
            )
        )
    if col.minimum is not None or col.maximum is not None:
        out.append(
            _expect(
                "expect_column_values_to_be_between",
                f"range: {col.why}",
                column=col.name,
                min_value=col.minimum,
                max_value=col.maximum,
            )
        )
    return out


def _charges_rules() -> list[Expectation]:
    """How `total_charges` relates to `tenure` and `monthly_charges`."""
    low, high = contract.TOTAL_CHARGES_RATIO
    total, monthly, tenure = contract.TOTAL_CHARGES_TERMS
    billed = _where(tenure, ">", 0)
    return [
        _expect(
            "expect_column_values_to_not_be_null",
            f"missing values: {total} may be blank only before the first bill "
            f"({tenure} 0); a blank after that is a broken extract",
            column=total,
            row_condition=billed,
        ),
        _expect(
            "expect_column_values_to_be_null",
            f"consistency: a customer with {tenure} 0 has not been billed yet, so "
            f"a {total} there was filled in by something upstream",
            column=total,
            row_condition=_where(tenure, "==", 0),
        ),
        {
            **_expect(
                "expect_multicolumn_ratio_to_product_to_be_between",
                f"consistency: {total} is about {monthly} * {tenure}; prices change "
                f"over a customer's life, so {low}x to {high}x is allowed, and "
                "anything further off means columns were swapped, shifted or "
                "rescaled",
                column_list=[total, monthly, tenure],
                min_value=low,
                max_value=high,
                row_condition=billed,
            ),
            # Data Docs show this sentence instead of a rendering GX lacks for a
            # custom expectation.
            "description": (
                f"where {tenure} > 0, {total} / ({monthly} * {tenure}) must be "
                f"between {low} and {high}"
            ),
        },
    ]


def build() -> list[Expectation]:
    """Every expectation of the suite, in a stable order."""
    low, high = contract.CHURN_SHARE
    out = [
        _expect(
            "expect_table_columns_to_match_ordered_list",
            "schema: the model and the serving schema rely on these exact columns "
            "in this order",
            column_list=contract.names(),
        ),
        _expect(
            "expect_table_row_count_to_be_between",
            f"volume: fewer than {contract.MIN_ROWS} rows means a failed or partial "
            "extract, not a quiet month",
            min_value=contract.MIN_ROWS,
        ),
    ]
    for col in contract.COLUMNS:
        out += _column_rules(col)
    out += [
        _expect(
            "expect_column_values_to_be_unique",
            f"key: one row per customer; a repeated {contract.ID} leaks the same "
            "customer into both train and test",
            column=contract.ID,
        ),
        _expect(
            "expect_column_values_to_be_in_set",
            f"class balance: at most {high:.0%} churners, else the labels are suspect",
            column=contract.TARGET,
            value_set=[contract.NEGATIVE],
            mostly=round(1 - high, 6),
        ),
        _expect(
            "expect_column_values_to_be_in_set",
            f"class balance: at least {low:.0%} churners, else the labels are suspect",
            column=contract.TARGET,
            value_set=[contract.POSITIVE],
            mostly=low,
        ),
    ]
    return out + _charges_rules()


def _key(spec: dict[str, Any]) -> str:
    """What makes two expectation configurations the same rule."""
    fields = (spec["type"], spec["kwargs"], spec.get("notes"), spec.get("description"))
    return json.dumps(fields, sort_keys=True, default=str)


def _keep_ids(path: Path, before: dict[str, Any] | None) -> None:
    """Give unchanged expectations their previous ids.

    A regenerated suite then differs from the committed one only where rules changed.
    """
    if before is None:
        return
    known = {_key(e): e["id"] for e in before["expectations"]}
    after = json.loads(path.read_text())
    for spec in after["expectations"]:
        spec["id"] = known.get(_key(spec), spec["id"])
    # The same layout GX writes, so that the file is stable either way.
    path.write_text(json.dumps(after, indent=2, sort_keys=True))


def write(gx_root: Path = config.ROOT) -> Path:
    """(Re)write the suite, validation definition and checkpoint into `gx/`."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    from churn.data import gx_rules  # noqa: F401  (registers the custom expectation)

    ctx = gx.get_context(mode="file", project_root_dir=str(gx_root))
    suite_file = gx_root / "gx" / "expectations" / f"{SUITE}.json"
    before = json.loads(suite_file.read_text()) if suite_file.exists() else None
    # Reuse what exists so that regenerating keeps the committed ids stable.
    sources = ctx.data_sources.all()
    source = (
        sources[DATA_SOURCE]
        if DATA_SOURCE in sources
        else ctx.data_sources.add_pandas(DATA_SOURCE)
    )
    asset = next((a for a in source.assets if a.name == ASSET), None)
    asset = asset or source.add_dataframe_asset(ASSET)
    batch = next(
        (b for b in asset.batch_definitions if b.name == BATCH_DEFINITION), None
    )
    batch = batch or asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
    suite = gx.ExpectationSuite(
        name=SUITE,
        meta={
            "generated_from": "src/churn/contract.py; edit the contract, not this file"
        },
    )
    for spec in build():
        suite.add_expectation(ExpectationConfiguration(**spec).to_domain_obj())
    suite = ctx.suites.add_or_update(suite)
    definition = ctx.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=SUITE, data=batch, suite=suite)
    )
    ctx.checkpoints.add_or_update(
        gx.Checkpoint(
            name=CHECKPOINT,
            validation_definitions=[definition],
            result_format=RESULT_FORMAT,
        )
    )
    path = gx_root / "gx" / "expectations" / f"{SUITE}.json"
    _keep_ids(path, before)
    log.info("wrote %d expectations to %s", len(build()), path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Entry point: regenerate the committed suite from the contract."""
    argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn expectations",
        description=__doc__,
    ).parse_args(argv)
    config.setup_logging()
    write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
