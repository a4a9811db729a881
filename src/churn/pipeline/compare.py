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
from typing import TYPE_CHECKING, Any

from churn import config, contract, model_io
from churn.pipeline import evaluate, train

# pandas and the plots module are imported where they are used, so that
# `churn compare --help` answers without loading them.
if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)


def previous_training_rows(train_rows: pd.DataFrame, *, month: int) -> pd.DataFrame:
    """The training rows the previous model saw: those of the months before `month`."""
    earlier = train_rows[contract.MONTH].lt(month).to_numpy(bool, na_value=False)
    return train_rows[earlier]


def rebuild_previous(
    earlier: pd.DataFrame, *, params: dict[str, Any], seed: int
) -> Pipeline | None:
    """The previous model, trained on `earlier`; None when it cannot be trained.

    A first month has no earlier rows, and earlier rows of one class fit nothing.
    """
    if earlier.empty or earlier[contract.TARGET].nunique() != 2:
        return None
    log.info("rebuilding the previous model on %d earlier rows", len(earlier))
    return train.train(
        earlier.drop(columns=[contract.TARGET]),
        earlier[contract.TARGET],
        params=params,
        seed=seed,
    )


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
    from churn.pipeline import plots

    X, y = test[contract.feature_names()], test[contract.TARGET].to_numpy()
    now = evaluate.scores(y, current.predict_proba(X)[:, 1], threshold=threshold)
    out: dict[str, Any] = {"test_rows": len(test), "metric": metric, "current": now}
    if previous is None:
        return out | {"previous": None, "delta": None, "verdict": "no previous model"}
    before = evaluate.scores(y, previous.predict_proba(X)[:, 1], threshold=threshold)
    delta = {k: round(now[k] - before[k], plots.DIGITS) for k in now}
    if delta[metric] > tolerance:
        verdict = "better"
    elif delta[metric] < -tolerance:
        verdict = "worse"
    else:
        verdict = "same"
    return out | {"previous": before, "delta": delta, "verdict": verdict}


def report(result: dict[str, Any], *, month: int, tolerance: float) -> dict[str, Any]:
    """`model_validation.json`: which months each model saw, then `compare`'s result.

    The previous model saw months 1 to `month - 1`, when there is one.
    """
    rebuilt = result["previous"] is not None
    head = {
        "months": month,
        "previous_months": month - 1 if rebuilt else None,
        "test_rows": result["test_rows"],
        "metric": result["metric"],
        "tolerance": tolerance,
        "verdict": result["verdict"],
    }
    return head | result


def headline(out: dict[str, Any]) -> dict[str, Any]:
    """`compare.json`: the verdict and the headline metric of both models.

    The registered DVC metric: the other test metrics of both models stay in
    `model_validation.json`, out of `dvc metrics show` and `dvc exp show`.
    """
    metric = out["metric"]

    def pick(side: str) -> float | None:
        return None if out[side] is None else out[side][metric]

    return {
        "verdict": out["verdict"],
        "metric": metric,
        "current": pick("current"),
        "previous": pick("previous"),
        "delta": pick("delta"),
    }


def messages(out: dict[str, Any]) -> list[tuple[int, str]]:
    """The `(log level, message)` lines that sum up a `report`."""
    metric = out["metric"]
    lines = [
        (
            logging.INFO,
            f"months 1-{out['months']} vs 1-{out['previous_months']}, {metric} on "
            f"{out['test_rows']} test rows: {out['verdict']}",
        )
    ]
    if out["verdict"] == "worse":
        lines.append(
            (
                logging.WARNING,
                f"the model retrained on month {out['months']} is worse than the "
                f"previous one: {metric} {out['previous'][metric]:.4f} -> "
                f"{out['current'][metric]:.4f}",
            )
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Entry point: rebuild the previous model and compare it with the current one."""
    argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn compare",
        description=__doc__,
    ).parse_args(argv)
    import pandas as pd

    config.setup_logging()
    params = config.load_params()
    knobs = params["compare"]
    month = params["batches"]["through_month"]
    earlier = previous_training_rows(pd.read_parquet(config.TRAIN_DATA), month=month)
    result = compare(
        model_io.load(config.MODEL_FILE),
        rebuild_previous(earlier, params=params["train"], seed=params["seed"]),
        pd.read_parquet(config.TEST_DATA),
        threshold=params["evaluate"]["threshold"],
        metric=knobs["metric"],
        tolerance=knobs["tolerance"],
    )
    out = report(result, month=month, tolerance=knobs["tolerance"])
    config.MODEL_VALIDATION.parent.mkdir(parents=True, exist_ok=True)
    config.MODEL_VALIDATION.write_text(json.dumps(out, indent=2) + "\n")
    config.COMPARE_METRICS.write_text(json.dumps(headline(out), indent=2) + "\n")
    for level, message in messages(out):
        log.log(level, "%s", message)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
