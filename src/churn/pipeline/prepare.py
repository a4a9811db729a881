"""Stage `prepare`: clean the validated table and split it into train and test.

Cleaning is `churn.data.cleaning.clean`, shared with the stages and the scoring
code that read rows before or beside this one.
"""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from churn import config, contract
from churn import split as split_rule
from churn.data.cleaning import clean

# pandas is imported in `main`, after the arguments are parsed, so that
# `churn prepare --help` answers without loading it.
if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def split(
    table: pd.DataFrame, *, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A deterministic train/test split by customer id (see `churn.split.is_test`).

    About `test_size` of the customers, and so of each class, land in the test split.
    """
    test = split_rule.is_test(table[contract.ID], test_size=test_size, seed=seed)
    return table[~test], table[test]


def main(argv: list[str] | None = None) -> int:
    """Entry point: read the ingested table, write train and test Parquet files."""
    argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn prepare",
        description=__doc__,
    ).parse_args(argv)
    import pandas as pd

    config.setup_logging()
    params = config.load_params()
    table = clean(pd.read_parquet(config.RAW_DATA))
    train, test = split(
        table, test_size=params["prepare"]["test_size"], seed=params["seed"]
    )
    config.TRAIN_DATA.parent.mkdir(parents=True, exist_ok=True)
    train.to_parquet(config.TRAIN_DATA, index=False)
    test.to_parquet(config.TEST_DATA, index=False)
    log.info("wrote %d train and %d test rows", len(train), len(test))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
