"""The simulated shifts stay inside the data contract.

Unshifted months are the upstream rows, which the pipeline validates anyway; the
shifted ones are checked here, alone and with every month before them.
"""

import pytest

from churn import config
from churn.data import batches, ingest, validate
from conftest import SOURCE

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def months() -> dict[str, object]:
    params = config.load_params()["batches"]
    raw = ingest.read_csv_text(SOURCE)
    out = {}
    first = min(m for m in params["shifts"].values() if m is not None)
    for month in range(first, params["months"] + 1):
        latest, included = batches.select(
            raw,
            months=params["months"],
            through_month=month,
            shifts=params["shifts"],
        )
        out[f"month {month}"] = latest
        out[f"months 1-{month}"] = included
    return out


def test_each_month_and_each_accumulated_table_passes(months) -> None:
    for name, text in months.items():
        table = ingest.to_typed(text, source=name)
        summary = validate.summarize(validate.run_suite(table), rows=len(table))
        assert summary["success"], f"{name}: {validate.format_failures(summary)}"
