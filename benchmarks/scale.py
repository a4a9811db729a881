"""A synthetic scale-up of the bundled churn data that keeps the data contract.

`scale_up(table, rows, seed)` draws `rows` customers from the real table with
replacement (seeded), then jitters the numeric columns so the copies are not exact
duplicates of each other:

- `customer_id` is renumbered 1..rows, so the key stays unique;
- `tenure` moves by up to +/-2 months for customers who have been billed, kept within
  1 and the contract's maximum, so a customer never crosses into or out of tenure 0;
- `monthly_charges` is multiplied by a factor drawn from N(1, 0.03), clipped to the
  contract's range and rounded to cents;
- `total_charges` keeps each drawn customer's own ratio of lifetime to
  monthly x tenure charges, applied to the jittered values, then clipped to the
  contract's range and to its `TOTAL_CHARGES_RATIO`; it stays blank exactly for
  customers with tenure 0, as in the source.

Categorical columns and the label are copied from the drawn customer, so the class
balance and the joint distribution of services stay those of the real data. Every
bound comes from `churn.contract`; `check(table)` verifies the result against it.

    python benchmarks/scale.py --rows 100000 --out /tmp/churn_100k.csv
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from churn import config, contract
from churn.data import ingest

log = logging.getLogger(__name__)

#: Largest tenure shift, in months, for a customer who has been billed.
TENURE_SHIFT = 2
#: Standard deviation of the multiplicative jitter on monthly charges.
CHARGES_JITTER = 0.03
BUNDLED = config.ROOT / "data" / "external" / "telco_churn.csv"


def _bounds(name: str) -> tuple[float, float]:
    col = contract.column(name)
    return float(col.minimum), float(col.maximum)


def scale_up(table: pd.DataFrame, rows: int, *, seed: int) -> pd.DataFrame:
    """`rows` synthetic customers resampled from the typed `table` (see module doc)."""
    if rows < 1:
        raise ValueError(f"rows must be positive, got {rows}")
    rng = np.random.default_rng(seed)
    out = table.iloc[rng.integers(0, len(table), size=rows)].reset_index(drop=True)
    out[contract.ID] = pd.array(np.arange(1, rows + 1), dtype="Int64")

    tenure = out["tenure"].to_numpy(dtype="int64")
    monthly = out["monthly_charges"].to_numpy(dtype="float64")
    total = out["total_charges"].to_numpy(dtype="float64", na_value=np.nan)
    billed = tenure > 0
    # The drawn customer's own price history: lifetime over monthly x tenure.
    ratio = np.ones(rows)
    ratio[billed] = total[billed] / (monthly[billed] * tenure[billed])

    t_min, t_max = _bounds("tenure")
    shift = rng.integers(-TENURE_SHIFT, TENURE_SHIFT + 1, size=rows)
    new_tenure = np.where(billed, np.clip(tenure + shift, max(1, t_min), t_max), 0)

    m_min, m_max = _bounds("monthly_charges")
    factor = rng.normal(1.0, CHARGES_JITTER, size=rows)
    new_monthly = np.round(np.clip(monthly * factor, m_min, m_max), 2)

    c_min, c_max = _bounds("total_charges")
    r_min, r_max = contract.TOTAL_CHARGES_RATIO
    base = new_monthly * new_tenure
    new_total = np.clip(ratio, r_min, r_max) * base
    new_total = np.clip(new_total, np.maximum(c_min, r_min * base), c_max)
    # Rounding to cents must not push a value back outside either bound.
    new_total = np.clip(np.round(new_total, 2), c_min, c_max)

    out["tenure"] = pd.array(new_tenure, dtype="Int64")
    out["monthly_charges"] = new_monthly
    out["total_charges"] = np.where(new_tenure > 0, new_total, np.nan)
    return out


def check(table: pd.DataFrame) -> list[str]:
    """The ways `table` breaks the contract rules the scale-up promises to keep."""
    problems = []
    if table[contract.ID].duplicated().any():
        problems.append(f"{contract.ID} is not unique")
    for col in contract.COLUMNS:
        values = table[col.name]
        if col.allowed is not None and not values.dropna().isin(col.allowed).all():
            problems.append(f"{col.name} has values outside {col.allowed}")
        low = col.minimum if col.minimum is not None else -np.inf
        high = col.maximum if col.maximum is not None else np.inf
        if col.minimum is not None or col.maximum is not None:
            if not values.dropna().between(low, high).all():
                problems.append(f"{col.name} outside [{low}, {high}]")
        if not col.nullable and values.isna().any():
            problems.append(f"{col.name} has blanks")
    blank = table["total_charges"].isna()
    unbilled = table["tenure"].eq(0)
    if not blank.equals(unbilled.astype(bool)):
        problems.append("total_charges is blank for other customers than tenure 0")
    billed = table[~unbilled]
    ratio = billed["total_charges"] / (billed["monthly_charges"] * billed["tenure"])
    r_min, r_max = contract.TOTAL_CHARGES_RATIO
    if not ratio.between(r_min, r_max).all():
        problems.append(
            f"total_charges / (monthly_charges * tenure) outside {r_min}..{r_max}"
        )
    return problems


def write_csv(table: pd.DataFrame, path: Path) -> Path:
    """Write `table` in the upstream CSV format (blank cells for missing values)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False, na_rep="", float_format="%.2f")
    return path


def make_batch(rows: int, out: Path, *, seed: int, source: Path = BUNDLED) -> Path:
    """Scale the CSV at `source` up to `rows` rows, check the contract, write `out`."""
    table = scale_up(ingest.read_batch(source), rows, seed=seed)
    problems = check(table)
    if problems:
        raise ValueError(f"scaled data breaks the contract: {'; '.join(problems)}")
    log.info("writing %d synthetic rows to %s", rows, out)
    return write_csv(table, out)


def main(argv: list[str] | None = None) -> int:
    """Entry point: write one scaled-up batch."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--source", type=Path, default=BUNDLED)
    args = parser.parse_args(argv)
    config.setup_logging()
    make_batch(args.rows, args.out, seed=args.seed, source=args.source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
