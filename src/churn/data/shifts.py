"""The simulated shifts: changes to later months made on purpose, not in the upstream.

`batches` applies each from the month `batches.shifts` in `params.yaml` names, so that
drift detection has something real to find.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from churn import contract, split

if TYPE_CHECKING:
    import pandas as pd


def _money(values: pd.Series) -> pd.Series:
    """Dollar amounts as the upstream writes them: at most two decimals."""
    return values.round(2).map(lambda v: f"{v:.2f}".rstrip("0").rstrip("."))


def fibre_price_rise(rows: pd.DataFrame) -> pd.DataFrame:
    """SIMULATED: fibre-optic monthly charges rise by 25 %.

    Only the monthly bill changes; lifetime `total_charges` were billed at the old
    price. The dearest fibre plan (118.75) becomes 148.44, inside the contract's range.
    """
    import pandas as pd

    out = rows.copy()
    fibre = out["internet_service"].eq("Fiber optic")
    charges = pd.to_numeric(out["monthly_charges"], errors="coerce")
    # A value that is no number stays as it is, for validation to report it.
    rise = fibre & charges.notna()
    out.loc[rise, "monthly_charges"] = _money(charges[rise] * 1.25)
    return out


def contract_promotion(rows: pd.DataFrame) -> pd.DataFrame:
    """SIMULATED: a promotion moves 40 % of month-to-month customers to two-year terms.

    Which customers move is fixed by a hash of their id. Their churn labels stay as
    they were, so the contract mix changes and its link to churn weakens.
    """
    out = rows.copy()
    monthly = out["contract"].eq("Month-to-month").to_numpy()
    chosen = split.unit_hash(out[contract.ID], "contract_promotion") < 0.4
    out.loc[monthly & chosen, "contract"] = "Two year"
    return out


#: Simulated shifts by name; `params.yaml` says from which month each applies.
SHIFTS: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "fibre_price_rise": fibre_price_rise,
    "contract_promotion": contract_promotion,
}
