"""Stage `compare`: is the model retrained on the new month better than the last one?

The previous model is the one the pipeline built before the newest month arrived:
the same code and params trained on the earlier months' training rows. Rebuilding it
here needs no remote or cache, so it works in a fresh clone. On the same machine
training is deterministic, so this is the very model the previous month's run
wrote; on another machine its floats may differ in their last bits, and its scores
agree to the six digits the metrics keep.

Both models are scored on the current test split. Test customers are chosen by a
hash of their id (`churn.split.is_test`), so none of them was in the previous
model's training rows either: the comparison is fair to both.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

import pandas as pd
from sklearn.pipeline import Pipeline

from churn import config, contract, model_io
from churn.pipeline import evaluate, train

log = logging.getLogger(__name__)


def previous_training_rows(
    train_rows: pd.DataFrame, newest_ids: pd.Series
) -> pd.DataFrame:
    """The training rows the previous model saw: all but the newest month's."""
    return train_rows[~train_rows[contract.ID].isin(newest_ids.astype("int64"))]


def compare(
    current: Pipeline,
    previous: Pipeline | None,
    test: pd.DataFrame,
    *,
    threshold: float,
    metric: str,
    tolerance: float,
) -> dict[str, Any]:
    """Test metrics of both models on `test`, their difference and the verdict.

    The verdict on `metric` (higher is better) is "better" or "worse" when the
    difference exceeds `tolerance`, "same" otherwise, and "no previous model" when
    there is none.
    """
    X, y = test[contract.feature_names()], test[contract.TARGET].to_numpy()
    now = evaluate.scores(y, current.predict_proba(X)[:, 1], threshold=threshold)
    out: dict[str, Any] = {"test_rows": len(test), "metric": metric, "current": now}
    if previous is None:
        return out | {"previous": None, "delta": None, "verdict": "no previous model"}
    before = evaluate.scores(y, previous.predict_proba(X)[:, 1], threshold=threshold)
    delta = {k: round(now[k] - before[k], evaluate.DIGITS) for k in now}
    if delta[metric] > tolerance:
        verdict = "better"
    elif delta[metric] < -tolerance:
        verdict = "worse"
    else:
        verdict = "same"
    return out | {"previous": before, "delta": delta, "verdict": verdict}


def main(argv: list[str] | None = None) -> int:
    """Entry point: rebuild the previous model and compare it with the current one."""
    argparse.ArgumentParser(prog="churn compare", description=__doc__).parse_args(argv)
    config.setup_logging()
    params = config.load_params()
    knobs = params["compare"]
    newest_ids = pd.read_csv(config.LATEST_BATCH, usecols=[contract.ID])[contract.ID]
    earlier = previous_training_rows(pd.read_parquet(config.TRAIN_DATA), newest_ids)
    previous = None
    if earlier[contract.TARGET].nunique() == 2:
        log.info("rebuilding the previous model on %d earlier rows", len(earlier))
        previous = train.train(
            earlier.drop(columns=[contract.TARGET]),
            earlier[contract.TARGET],
            params=params["train"],
            seed=params["seed"],
        )
    current = model_io.load(config.MODEL_FILE)
    out = compare(
        current,
        previous,
        pd.read_parquet(config.TEST_DATA),
        threshold=params["evaluate"]["threshold"],
        metric=knobs["metric"],
        tolerance=knobs["tolerance"],
    )
    month = params["batches"]["through_month"]
    out = {
        "months": month,
        "previous_months": month - 1 if previous is not None else None,
        "test_rows": out["test_rows"],
        "metric": out["metric"],
        "tolerance": knobs["tolerance"],
        "verdict": out["verdict"],
        **out,
    }
    config.MODEL_VALIDATION.parent.mkdir(parents=True, exist_ok=True)
    config.MODEL_VALIDATION.write_text(json.dumps(out, indent=2) + "\n")
    log.info(
        "months 1-%d vs 1-%s, %s on %d test rows: %s",
        month,
        out["previous_months"],
        knobs["metric"],
        out["test_rows"],
        out["verdict"],
    )
    if out["verdict"] == "worse":
        log.warning(
            "the model retrained on month %d is worse than the previous one: "
            "%s %.4f -> %.4f",
            month,
            knobs["metric"],
            out["previous"][knobs["metric"]],
            out["current"][knobs["metric"]],
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
