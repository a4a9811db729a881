"""Send one month of customers to a running service, as its live traffic would come.

`churn traffic --month 7` cuts month 7 from the upstream data exactly as the
`batches` stage does (`batches.source`, `batches.months` and the simulated
`batches.shifts` of `params.yaml`: month 7 carries the contract promotion and the
fibre price rise) and posts its customers to `POST /predict` of the service at
`--url`, `--batch` customers per request. It exits 1 if any request is not
answered with 200. With `churn serve --log-dir`, this is how to try `churn monitor`
on traffic the model has or has not seen.
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING, Any

from churn import config
from churn.data import batches, ingest
from churn.delivery import smoke

# The samples module (pandas, scikit-learn) is imported in `main`, after the
# arguments are parsed, so that `churn traffic --help` answers without loading it.
if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

URL = "http://127.0.0.1:8000"
BATCH = 100


def month_customers(params: dict[str, Any], month: int) -> pd.DataFrame:
    """Month `month` of the upstream data, shifted as `params.yaml` says, typed."""
    knobs = params["batches"]
    source = config.resolve(knobs["source"])
    latest, _ = batches.select(
        ingest.read_csv_text(source),
        months=knobs["months"],
        through_month=month,
        shifts=knobs.get("shifts") or {},
    )
    return ingest.to_typed(latest, source=f"{source} (month {month})")


def send(url: str, customers: list[dict[str, Any]], *, batch: int) -> dict[str, int]:
    """POST the customers in batches; how many requests got which status."""
    if batch < 1:
        raise ValueError(f"--batch must be at least 1, got {batch}")
    statuses: dict[str, int] = {}
    for start in range(0, len(customers), batch):
        chunk = customers[start : start + batch]
        reply = smoke.post_json(f"{url}/predict", {"customers": chunk})
        statuses[str(reply.status)] = statuses.get(str(reply.status), 0) + 1
        if reply.status != 200:
            log.error(
                "customers %d-%d: %s %s",
                start,
                start + len(chunk) - 1,
                reply.status,
                reply.body,
            )
    return statuses


def main(argv: list[str] | None = None) -> int:
    """Entry point: send a month's customers; exit 1 if a request failed."""
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn traffic",
        description=__doc__,
    )
    parser.add_argument("--month", type=int, required=True, help="1 to batches.months")
    parser.add_argument("--url", default=URL, help=f"the service (default {URL})")
    parser.add_argument("--batch", type=int, default=BATCH, help="customers a request")
    args = parser.parse_args(argv)
    from churn.delivery import samples

    config.setup_logging()
    try:
        table = month_customers(config.load_params(), args.month)
        statuses = send(args.url, samples.request_rows(table), batch=args.batch)
    except (ingest.IngestError, ValueError, OSError) as exc:
        log.error("%s", exc)
        return 1
    log.info(
        "sent %d customers of month %d to %s: responses %s",
        len(table),
        args.month,
        args.url,
        ", ".join(f"{n} x {code}" for code, n in sorted(statuses.items())),
    )
    return 0 if set(statuses) == {"200"} else 1


if __name__ == "__main__":
    raise SystemExit(main())
