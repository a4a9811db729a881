"""A Great Expectations rule the core library lacks: one column tracks a product.

`total_charges` should be roughly `monthly_charges * tenure`. GX 1.x has row-wise
checks for sums and pairs of columns but none for a ratio to a product, so this module
adds one as a regular custom expectation (a metric plus an expectation class).
Importing the module registers both with GX; `churn.data.expectations` and
`churn.data.validate` import it before they touch the suite. It imports Great
Expectations, so nothing else should import it at module level.
"""

from __future__ import annotations

from typing import ClassVar

import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import MulticolumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    MulticolumnMapMetricProvider,
    multicolumn_condition_partial,
)

METRIC = "multicolumn_values.ratio_to_product_between"


def ratio_to_product(columns: pd.DataFrame) -> pd.Series:
    """Row-wise first column / product of the others (NaN where the product is 0)."""
    first, *rest = (columns[c].astype("float64") for c in columns.columns)
    product = rest[0]
    for factor in rest[1:]:
        product = product * factor
    return first / product.where(product != 0)


class MulticolumnRatioToProductBetween(MulticolumnMapMetricProvider):
    """Row-wise: is column_list[0] / prod(column_list[1:]) within [min, max]?"""

    condition_metric_name = METRIC
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_list",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )
    condition_value_keys = ("min_value", "max_value")

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, **kwargs) -> pd.Series:
        ratio = ratio_to_product(column_list)
        # A zero product has no meaningful ratio, so it counts as unexpected.
        return ratio.between(kwargs["min_value"], kwargs["max_value"]).fillna(False)


class ExpectMulticolumnRatioToProductToBeBetween(MulticolumnMapExpectation):
    """Expect column_list[0] / (column_list[1] * column_list[2] ...) within bounds.

    For example `column_list=["total_charges", "monthly_charges", "tenure"]` with
    `min_value=0.5, max_value=2.0`: the lifetime bill is between half and twice
    what the current monthly price over the whole tenure would give. Rows with a
    missing value are skipped (`ignore_row_if="any_value_is_missing"`); use a
    `row_condition` to skip rows whose product is legitimately zero.
    """

    min_value: float
    max_value: float
    ignore_row_if: str = "any_value_is_missing"

    map_metric: ClassVar[str] = METRIC
    success_keys: ClassVar[tuple[str, ...]] = ("mostly", "min_value", "max_value")
    args_keys: ClassVar[tuple[str, ...]] = ("column_list", "min_value", "max_value")

    library_metadata: ClassVar[dict] = {
        "maturity": "experimental",
        "tags": ["multi-column expectation"],
        "contributors": [],
    }
