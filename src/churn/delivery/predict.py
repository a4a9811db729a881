"""Batch predictions: a CSV of customers in, the same CSV with churn probability out.

    churn predict --input customers.csv --output scored.csv

The input has the data contract's columns, read by the same reader as `ingest`; the
`churn` column is optional (a batch to score has no labels yet). Every row is checked
against the request schema the service uses, so a file the service would refuse is
refused here too, naming the row and the column. The output holds the input columns
plus `churn_probability`. The model is this checkout's pipeline output, or a released
package with `--package`, whose SHA-256 is verified before loading.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from churn import config, contract, model_io
from churn.data import cleaning, ingest
from churn.delivery import package, schema

# The heavy libraries are imported inside the functions that use them, so that
# `churn predict --help` answers without loading them.
if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

OUTPUT_COLUMN = "churn_probability"
#: How many row errors a refusal spells out.
EXAMPLES = 5


class PredictError(ValueError):
    """A batch that cannot be scored, and why."""


def read_customers(path: Path) -> tuple[pd.DataFrame, bool]:
    """Read a CSV batch into the contract's typed table, and whether it has labels.

    Without a `churn` column, a blank one is added so the contract's reader applies
    as is; `score` leaves it out of the output again.
    """
    raw = ingest.read_csv_text(path)
    labelled = contract.TARGET in raw.columns
    if not labelled:
        raw.insert(contract.names().index(contract.TARGET), contract.TARGET, "")
    return ingest.to_typed(raw, source=str(path)), labelled


def check_rows(table: pd.DataFrame, source: str) -> None:
    """Raise `PredictError` unless every row satisfies the request schema."""
    from pydantic import TypeAdapter, ValidationError

    from churn.delivery import samples

    rows = samples.request_rows(table)
    try:
        TypeAdapter(list[schema.Customer]).validate_python(rows)  # type: ignore[valid-type]
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        lines = [
            f"line {e['loc'][0] + 2} ({contract.ID} {rows[e['loc'][0]][contract.ID]}),"
            f" column {e['loc'][1]!r}: {e['msg']} (got {e['input']!r})"
            for e in errors[:EXAMPLES]
            if len(e["loc"]) >= 2
        ]
        raise PredictError(
            f"{source}: {len(errors)} value(s) break the data contract:\n  "
            + "\n  ".join(lines)
        ) from None


def score(model: Pipeline, table: pd.DataFrame, *, labelled: bool) -> pd.DataFrame:
    """`table` with a `churn_probability` column from `model`, same rows and order.

    Features go through `churn.data.cleaning.clean`, exactly as in training.
    `clean` also encodes the label, which scoring never reads, so it gets a
    placeholder label rather than blanks it would refuse.
    """
    placeholder = table.assign(**{contract.TARGET: contract.YES_NO[0]})
    features = cleaning.clean(placeholder)[contract.feature_names()]
    out = table if labelled else table.drop(columns=[contract.TARGET])
    return out.assign(**{OUTPUT_COLUMN: model.predict_proba(features)[:, 1]})


def main(argv: list[str] | None = None) -> int:
    """Entry point: score `--input`, write `--output`."""
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn predict",
        description=__doc__,
    )
    parser.add_argument("--input", type=Path, required=True, help="CSV of customers")
    parser.add_argument("--output", type=Path, required=True, help="CSV to write")
    parser.add_argument(
        "--package",
        type=Path,
        help="model package folder or .tar.gz (default: models/model.skops)",
    )
    args = parser.parse_args(argv)
    config.setup_logging()
    try:
        table, labelled = read_customers(args.input)
        check_rows(table, str(args.input))
        if args.package:
            model = package.load(args.package).model
        elif config.MODEL_FILE.is_file():
            model = model_io.load(config.MODEL_FILE)
        else:
            raise PredictError(f"{config.MODEL_FILE}: no model; run `make repro`")
    except (ingest.IngestError, package.PackageError, ValueError) as exc:
        log.error("%s", exc)
        return 1
    scored = score(model, table, labelled=labelled)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    scored.to_csv(args.output, index=False)
    log.info("scored %d customers into %s", len(scored), args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
