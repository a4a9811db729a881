"""Stage `evaluate`: score the model on the test split; write metrics and plot data.

The headline metrics are here; the curves, the calibration and the permutation
importance the plots draw are computed in `churn.pipeline.plots`.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churn import config, contract, model_io

# NumPy, pandas, scikit-learn and the plot and slice modules are imported where
# they are used, so that `churn evaluate --help` answers without loading them.
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)


def scores(y: np.ndarray, proba: np.ndarray, *, threshold: float) -> dict[str, float]:
    """Headline metrics of churn probabilities `proba` against labels `y`."""
    import numpy as np
    from sklearn import metrics as skm

    from churn.pipeline.plots import rounded

    if len(np.unique(y)) < 2:
        raise ValueError("the test labels hold a single class; ROC AUC is undefined")
    pred = (proba >= threshold).astype(int)
    return {
        "roc_auc": rounded(skm.roc_auc_score(y, proba)),
        "pr_auc": rounded(skm.average_precision_score(y, proba)),
        "f1": rounded(skm.f1_score(y, pred, zero_division=0)),
        "precision": rounded(skm.precision_score(y, pred, zero_division=0)),
        "recall": rounded(skm.recall_score(y, pred, zero_division=0)),
        "accuracy": rounded(skm.accuracy_score(y, pred)),
        "log_loss": rounded(skm.log_loss(y, proba, labels=[0, 1])),
        "brier": rounded(skm.brier_score_loss(y, proba)),
    }


def confusion_counts(y: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    """The confusion matrix as four rows of actual, predicted and count.

    Counts, not one row per customer, so the file has the same size for any number
    of rows; every cell is listed, zeros included.
    """
    import numpy as np
    import pandas as pd

    names = {1: "churn", 0: "stay"}
    return pd.DataFrame(
        [
            {
                "actual": names[a],
                "predicted": names[p],
                "count": int(np.sum((y == a) & (pred == p))),
            }
            for a in (1, 0)
            for p in (1, 0)
        ]
    )


def evaluate(
    model: Pipeline, test: pd.DataFrame, *, params: dict[str, Any], seed: int
) -> dict[str, Any]:
    """Everything the stage writes, computed from the model and the test split."""
    import numpy as np
    import pandas as pd

    from churn.pipeline import plots

    X = test[contract.feature_names()]
    y = test[contract.TARGET].to_numpy()
    proba = model.predict_proba(X)[:, 1]
    threshold = params["threshold"]
    pred = (proba >= threshold).astype(int)
    log.info(
        "computing permutation importance (%d repeats)", params["importance_repeats"]
    )
    return {
        "metrics": scores(y, proba, threshold=threshold),
        "roc": plots.roc_points(y, proba),
        "precision_recall": plots.pr_points(y, proba),
        "calibration": plots.calibration_points(
            y, proba, bins=params["calibration_bins"]
        ),
        "importance": plots.importance(
            model, X, y, repeats=params["importance_repeats"], seed=seed
        ),
        "confusion": confusion_counts(y, pred),
        "predictions": pd.DataFrame(
            {
                contract.ID: test[contract.ID].astype("int64").to_numpy(),
                "label": y,
                "score": np.round(proba, plots.DIGITS),
            }
        ),
    }


def _dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point: evaluate the saved model on the test split."""
    argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn evaluate",
        description=__doc__,
    ).parse_args(argv)
    import pandas as pd

    from churn.pipeline import slices

    config.setup_logging()
    params = config.load_params()
    test = pd.read_parquet(config.TEST_DATA)
    out = evaluate(
        model_io.load(config.MODEL_FILE),
        test,
        params=params["evaluate"],
        seed=params["seed"],
    )
    _dump(config.MODEL_METRICS, out["metrics"])
    for name in ("roc", "precision_recall", "calibration", "importance"):
        _dump(config.PLOTS_DIR / f"{name}.json", out[name])
    out["confusion"].to_csv(config.PLOTS_DIR / "confusion.csv", index=False)
    out["predictions"].to_csv(config.PREDICTIONS, index=False)
    preds = out["predictions"]
    by_slice = slices.slices(
        slices.labels(test),
        preds["label"].to_numpy(),
        preds["score"].to_numpy(),
        threshold=params["evaluate"]["threshold"],
    )
    _dump(config.SLICES, by_slice)
    log.info("test metrics: %s", out["metrics"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
