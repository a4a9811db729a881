"""Pairing two models' test predictions: which customers both scored, and whether
a metrics file can have come from its predictions.

A comparison means something only over enough customers that both models scored
with the same labels. `table` checks one predictions file, `pair` joins two and
refuses what cannot be compared, and `consistency` catches a `metrics.json` that
was edited rather than computed.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import pandas as pd

from churn import config, contract, stats
from churn.review.rules import value_problem

#: Fewest customers both models must have scored for a comparison to mean anything.
MIN_SHARED_ROWS = 100
#: ...and the least share of the base's test customers they must cover.
MIN_SHARED_SHARE = 0.5
#: How far `metrics.json` may be from what `predictions.csv` gives (its scores are
#: printed to six decimals, which moves a metric by about 1e-6).
CONSISTENT = 1e-4


def table(source: str | Path, where: str, problems: list[str]) -> pd.DataFrame | None:
    """A predictions table from a path or from text, checked; None with a problem."""
    try:
        frame = pd.read_csv(io.StringIO(source) if isinstance(source, str) else source)
    except (ValueError, pd.errors.ParserError) as exc:
        problems.append(f"{where} cannot be parsed ({exc})")
        return None
    missing = [c for c in (contract.ID, "label", "score") if c not in frame.columns]
    if missing:
        problems.append(f"{where} lacks the column(s) {missing}")
    elif frame[contract.ID].duplicated().any():
        problems.append(f"{where} repeats customer ids")
    elif not frame["label"].isin([0, 1]).all():
        problems.append(f"{where} has labels other than 0 and 1")
    elif not pd.to_numeric(frame["score"], errors="coerce").between(0, 1).all():
        problems.append(f"{where} has scores that are not probabilities in [0, 1]")
    else:
        return frame
    return None


def pair(
    base: pd.DataFrame, pr: pd.DataFrame, *, base_label: str
) -> tuple[pd.DataFrame | None, str | None]:
    """The customers both (checked) prediction tables scored, or why they cannot
    be compared."""
    key, where = contract.ID, f"this PR's {config.FILES.predictions}"
    both = base.merge(pr, on=key, suffixes=("_base", "_pr"))
    if both.empty:
        return None, f"{where} shares no customer with {base_label}'s"
    changed = both[both["label_base"] != both["label_pr"]]
    if len(changed):
        ids = ", ".join(str(i) for i in changed[key].head(3))
        return None, (
            f"{where} gives {len(changed)} of the {len(both)} shared customers "
            f"another label than {base_label} (e.g. {ids}): the test labels must "
            "not change"
        )
    need = max(MIN_SHARED_ROWS, math.ceil(MIN_SHARED_SHARE * len(base)))
    if len(both) < need:
        return None, (
            f"{where} shares only {len(both)} customers with {base_label}'s; at "
            f"least {need} are needed ({MIN_SHARED_ROWS}, and "
            f"{MIN_SHARED_SHARE:.0%} of its {len(base)})"
        )
    return stats.align(base, pr, key=key), None


def consistency(
    metrics: dict[str, Any], predictions: pd.DataFrame, *, metric: str, threshold: float
) -> str | None:
    """Why `metrics` cannot come from `predictions`, or None when they agree."""
    claimed = metrics.get(metric)
    if value_problem(metric, claimed, config.FILES.metrics):
        return None  # no usable number at all: the rules say so, in those words
    actual = stats.metric_values(
        predictions["label"].to_numpy(),
        pd.to_numeric(predictions["score"]).to_numpy(),
        threshold=threshold,
    )[metric]
    if abs(claimed - actual) <= CONSISTENT:
        return None
    return (
        f"{config.FILES.metrics} says `{metric}` is {claimed} but "
        f"{config.FILES.predictions} gives {actual:.6f}: the metrics were not "
        "computed from these predictions (edited, or stale: run `dvc repro`, or "
        "`churn gate --recompute`)"
    )
