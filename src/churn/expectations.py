"""The Great Expectations suite, generated from the data contract.

`build()` turns `churn.contract` into plain expectation configurations (type, kwargs,
and a `why` note); `python -m churn.expectations` writes them into the file context in
`gx/` so the committed suite is always the contract's. Great Expectations itself is
imported only when writing, because its import takes seconds.
"""

from __future__ import annotations

import argparse
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

Expectation = dict[str, Any]


def _expect(type_: str, why: str, **kwargs: Any) -> Expectation:
    return {"type": type_, "kwargs": kwargs, "meta": {"why": why}}


def _where(column: str, operator: str, value: float) -> dict[str, Any]:
    """A GX row condition (`Column(column) <operator> value`) in its JSON form."""
    return {
        "type": "comparison",
        "column": {"name": column},
        "operator": operator,
        "parameter": value,
    }


def build() -> list[Expectation]:
    """Every expectation of the suite, in a stable order."""
    out = [
        _expect(
            "expect_table_columns_to_match_ordered_list",
            "schema: the model and the serving schema rely on these exact columns",
            column_list=contract.names(),
        ),
        _expect(
            "expect_table_row_count_to_be_between",
            "volume: a tiny batch means a failed extract, not a quiet month",
            min_value=contract.MIN_ROWS,
        ),
    ]
    for col in contract.COLUMNS:
        if not col.nullable:
            out.append(
                _expect(
                    "expect_column_values_to_not_be_null",
                    f"missing values: {col.name} is always known",
                    column=col.name,
                )
            )
        out.append(
            _expect(
                "expect_column_values_to_be_in_type_list",
                f"types: {col.name} is {col.dtype}",
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
    low, high = contract.CHURN_SHARE
    out += [
        _expect(
            "expect_column_values_to_be_unique",
            "key: one row per customer; duplicates leak between train and test",
            column=contract.ID,
        ),
        _expect(
            "expect_column_values_to_be_in_set",
            f"class balance: at most {high:.0%} churners, else the labels are suspect",
            column=contract.TARGET,
            value_set=["No"],
            mostly=round(1 - high, 6),
        ),
        _expect(
            "expect_column_values_to_be_in_set",
            f"class balance: at least {low:.0%} churners, else the labels are suspect",
            column=contract.TARGET,
            value_set=[contract.POSITIVE],
            mostly=low,
        ),
        _expect(
            "expect_column_values_to_not_be_null",
            "missing values: total_charges may be blank only before the first bill",
            column="total_charges",
            row_condition=_where("tenure", ">", 0),
        ),
    ]
    return out


def write(gx_root: Path = config.ROOT) -> Path:
    """(Re)write the suite, validation definition and checkpoint into `gx/`."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    ctx = gx.get_context(mode="file", project_root_dir=str(gx_root))
    source = ctx.data_sources.add_or_update_pandas(DATA_SOURCE)
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
            result_format={"result_format": "COMPLETE", "partial_unexpected_count": 5},
        )
    )
    path = gx_root / "gx" / "expectations" / f"{SUITE}.json"
    log.info("wrote %d expectations to %s", len(build()), path)
    return path


def main(argv: list[str] | None = None) -> int:
    """Entry point: regenerate the committed suite from the contract."""
    argparse.ArgumentParser(prog="churn expectations", description=__doc__).parse_args(
        argv
    )
    config.setup_logging()
    write()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
