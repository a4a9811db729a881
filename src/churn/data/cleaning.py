"""The validated table made model-ready, the same way wherever a model reads it.

The `drift` and `prepare` stages, packaging and batch prediction all clean their
rows through `clean`, so a feature is what the model saw in training wherever it is
scored. It lives in the data layer because `drift` runs before `prepare`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from churn import contract

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def clean(table: pd.DataFrame) -> pd.DataFrame:
    """Make the validated table model-ready.

    `total_charges` is blank for customers who have not been billed yet (tenure 0):
    their lifetime charges are 0, not unknown. The target becomes 1 (churned) / 0.
    Columns outside the contract, such as `month`, pass through unchanged.
    """
    missing = [c for c in contract.names() if c not in table.columns]
    if missing:
        raise KeyError(f"missing column(s) {missing}")
    out = table.copy()
    unbilled = out["total_charges"].isna() & out["tenure"].eq(0)
    out.loc[unbilled, "total_charges"] = 0.0
    out[contract.TARGET] = out[contract.TARGET].eq(contract.POSITIVE).astype("int64")
    numeric = contract.features_of("flag", "integer", "number")
    out[numeric] = out[numeric].astype("float64")
    log.info("cleaned %d rows (%d not yet billed)", len(out), int(unbilled.sum()))
    return out
