"""The data contract for one batch of the churn table: the single source of truth.

Everything that needs to know what a valid batch looks like derives it from here:
the ingest schema (`pandas_dtypes`), the Great Expectations suite
(`churn.data.expectations`), the feature lists of the model and the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["id", "target", "flag", "category", "integer", "number"]

YES_NO = ("No", "Yes")
NO_INTERNET = ("No", "No internet service", "Yes")


@dataclass(frozen=True)
class Column:
    """One column of the batch and the rules it must obey."""

    name: str
    kind: Kind
    why: str
    allowed: tuple[str, ...] | tuple[int, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False

    @property
    def dtype(self) -> str:
        """The pandas dtype ingest gives this column.

        Nullable dtypes (`Int64`, `string`) keep a missing value visible as `<NA>`
        for validation instead of turning integers into floats.
        """
        return _DTYPES[self.kind][0]

    @property
    def gx_type(self) -> str:
        """The same dtype as Great Expectations' type-list check names it."""
        return _DTYPES[self.kind][1]


_DTYPES: dict[str, tuple[str, str]] = {
    "id": ("Int64", "Int64Dtype"),
    "target": ("string", "StringDtype"),
    "flag": ("Int64", "Int64Dtype"),
    "category": ("string", "StringDtype"),
    "integer": ("Int64", "Int64Dtype"),
    "number": ("float64", "float64"),
}


COLUMNS: tuple[Column, ...] = (
    Column("customer_id", "id", "key: joins predictions back to customers", minimum=1),
    Column(
        "churn", "target", "the label; anything else silently breaks training", YES_NO
    ),
    Column("female", "flag", "0/1 encoded in the source", (0, 1)),
    Column("senior_citizen", "flag", "0/1 encoded in the source", (0, 1)),
    Column("partner", "flag", "0/1 encoded in the source", (0, 1)),
    Column("dependents", "flag", "0/1 encoded in the source", (0, 1)),
    Column(
        "tenure",
        "integer",
        "months as a customer; the source caps it at 72 (six years)",
        minimum=0,
        maximum=72,
    ),
    Column("phone_service", "flag", "0/1 encoded in the source", (0, 1)),
    Column(
        "multiple_lines",
        "category",
        "unknown levels would be dropped silently by one-hot encoding",
        ("No", "No phone service", "Yes"),
    ),
    Column(
        "internet_service",
        "category",
        "unknown levels would be dropped silently by one-hot encoding",
        ("DSL", "Fiber optic", "No"),
    ),
    Column("online_security", "category", "known service levels only", NO_INTERNET),
    Column("online_backup", "category", "known service levels only", NO_INTERNET),
    Column("device_protection", "category", "known service levels only", NO_INTERNET),
    Column("tech_support", "category", "known service levels only", NO_INTERNET),
    Column("streaming_tv", "category", "known service levels only", NO_INTERNET),
    Column("streaming_movies", "category", "known service levels only", NO_INTERNET),
    Column(
        "contract",
        "category",
        "the strongest churn driver; a new contract type needs a retrained model",
        ("Month-to-month", "One year", "Two year"),
    ),
    Column("paperless_billing", "flag", "0/1 encoded in the source", (0, 1)),
    Column(
        "payment_method",
        "category",
        "known payment methods only",
        (
            "Bank transfer (automatic)",
            "Credit card (automatic)",
            "Electronic check",
            "Mailed check",
        ),
    ),
    Column(
        "monthly_charges",
        "number",
        "plausible monthly bill in dollars; catches unit or currency changes",
        minimum=10.0,
        maximum=150.0,
    ),
    Column(
        "total_charges",
        "number",
        "lifetime bill in dollars; blank only before the first bill",
        minimum=10.0,
        maximum=10_000.0,
        nullable=True,
    ),
)

ID = "customer_id"
#: The month a row arrived in (1 to `batches.months`). Not an upstream column and
#: not a feature: `ingest` adds it by `churn.data.batches.month_of`, so that later
#: stages can tell the newest month from the earlier ones.
MONTH = "month"
TARGET = "churn"
POSITIVE = "Yes"
NEGATIVE = "No"

#: A batch smaller than this cannot train or evaluate anything meaningful.
MIN_ROWS = 1000
#: The share of churners in the source is 26.5 %; far outside this band means a
#: labelling or extraction problem, not a change in customers.
CHURN_SHARE = (0.15, 0.40)
#: `total_charges` is about `monthly_charges * tenure`; prices change over a customer's
#: life (the source ranges from 0.69 to 1.57), so allow a generous factor.
TOTAL_CHARGES_RATIO = (0.5, 2.0)
#: The columns of that rule: total, monthly price, months.
TOTAL_CHARGES_TERMS = ("total_charges", "monthly_charges", "tenure")


def column(name: str) -> Column:
    """The contract's column called `name`."""
    for col in COLUMNS:
        if col.name == name:
            return col
    raise KeyError(name)


def names() -> list[str]:
    """All column names in their contract order."""
    return [c.name for c in COLUMNS]


def pandas_dtypes() -> dict[str, str]:
    """Column name to the pandas dtype ingest gives it."""
    return {c.name: c.dtype for c in COLUMNS}


def features_of(*kinds: Kind) -> list[str]:
    """Names of the columns of the given kinds, in contract order."""
    return [c.name for c in COLUMNS if c.kind in kinds]


def feature_names() -> list[str]:
    """Every model input: all columns but the key and the target."""
    return features_of("flag", "category", "integer", "number")
