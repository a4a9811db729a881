"""What a package shows of itself: real customers, as requests, with their scores.

`examples.json` holds a real request and the probabilities the packaged model gave
it, so that a service that reproduces them serves the same model; the smoke test
and the docs send it. `request_rows` shapes any ingested table into the customers of
a `POST /predict` body, for the package, batch prediction and test traffic alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from churn import contract
from churn.data import cleaning

#: Test-split customers recorded with their probabilities in `examples.json`.
EXAMPLE_ROWS = 5


def pick_examples(raw: pd.DataFrame, test_ids: pd.Series, rows: int) -> pd.DataFrame:
    """`rows` customers of the test split as ingested, one not yet billed if any."""
    held_out = raw[raw[contract.ID].isin(test_ids)]
    unbilled = held_out[held_out["tenure"].eq(0)].head(1)
    rest = held_out.drop(index=unbilled.index).head(rows - len(unbilled))
    return pd.concat([rest, unbilled])


def examples(model: Pipeline, customers: pd.DataFrame) -> dict[str, Any]:
    """A request for `customers` (as ingested) and the probabilities `model` gives.

    The probabilities come from the pipeline's own path (`churn.data.cleaning.clean`,
    then the fitted pipeline), so a service that reproduces them serves the same
    model.
    """
    request = request_rows(customers)
    proba = model.predict_proba(cleaning.clean(customers)[contract.feature_names()])
    return {
        "request": {"customers": request},
        "churn_probability": proba[:, 1].tolist(),
    }


def request_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of an ingested table shaped like the customers of `POST /predict`."""
    columns = [contract.ID, *contract.feature_names()]
    records = table[columns].astype(object).to_dict("records")
    return [{k: _plain(v) for k, v in r.items()} for r in records]


def _plain(value: Any) -> Any:
    # JSON has no pandas NA, NaN or numpy scalars.
    if pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    return value.item() if isinstance(value, np.generic) else value
