"""Stage `evaluate`: score the model on the test split; write metrics and plot data."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance
from sklearn.pipeline import Pipeline

from churn import config, contract, model_io, slices

log = logging.getLogger(__name__)

#: Digits kept in metrics and plot files: stable diffs, no float noise.
DIGITS = 6


def _r(value: float) -> float:
    return round(float(value), DIGITS)


def scores(y: np.ndarray, proba: np.ndarray, *, threshold: float) -> dict[str, float]:
    """Headline metrics of churn probabilities `proba` against labels `y`."""
    if len(np.unique(y)) < 2:
        raise ValueError("the test labels hold a single class; ROC AUC is undefined")
    pred = (proba >= threshold).astype(int)
    return {
        "roc_auc": _r(skm.roc_auc_score(y, proba)),
        "pr_auc": _r(skm.average_precision_score(y, proba)),
        "f1": _r(skm.f1_score(y, pred, zero_division=0)),
        "precision": _r(skm.precision_score(y, pred, zero_division=0)),
        "recall": _r(skm.recall_score(y, pred, zero_division=0)),
        "accuracy": _r(skm.accuracy_score(y, pred)),
        "log_loss": _r(skm.log_loss(y, proba, labels=[0, 1])),
        "brier": _r(skm.brier_score_loss(y, proba)),
    }


def roc_points(y: np.ndarray, proba: np.ndarray) -> list[dict[str, float]]:
    """The ROC curve as rows of false/true positive rate and threshold."""
    fpr, tpr, thr = skm.roc_curve(y, proba, drop_intermediate=True)
    thr = np.minimum(thr, 1.0)  # sklearn puts +inf first; 1.0 keeps the JSON valid
    return [
        {"fpr": _r(f), "tpr": _r(t), "threshold": _r(h)}
        for f, t, h in zip(fpr, tpr, thr, strict=True)
    ]


def pr_points(y: np.ndarray, proba: np.ndarray) -> list[dict[str, float]]:
    """The precision-recall curve as rows of recall and precision."""
    precision, recall, _ = skm.precision_recall_curve(y, proba, drop_intermediate=True)
    return [
        {"recall": _r(r), "precision": _r(p)}
        for p, r in zip(precision, recall, strict=True)
    ]


def calibration_points(
    y: np.ndarray, proba: np.ndarray, *, bins: int
) -> list[dict[str, float]]:
    """Observed churn share against mean predicted probability per quantile bin."""
    observed, predicted = calibration_curve(y, proba, n_bins=bins, strategy="quantile")
    return [
        {"predicted": _r(p), "observed": _r(o)}
        for p, o in zip(predicted, observed, strict=True)
    ]


def importance(
    model: Pipeline,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    repeats: int,
    seed: int,
) -> list[dict[str, float | str]]:
    """Permutation importance (drop in ROC AUC) of each input column, largest first."""
    result = permutation_importance(
        model, X, y, scoring="roc_auc", n_repeats=repeats, random_state=seed, n_jobs=1
    )
    rows = [
        {"feature": name, "importance": _r(mean), "std": _r(std)}
        for name, mean, std in zip(
            X.columns, result.importances_mean, result.importances_std, strict=True
        )
    ]
    return sorted(rows, key=lambda r: (-r["importance"], r["feature"]))


def evaluate(
    model: Pipeline, test: pd.DataFrame, *, params: dict[str, Any], seed: int
) -> dict[str, Any]:
    """Everything the stage writes, computed from the model and the test split."""
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
        "roc": roc_points(y, proba),
        "precision_recall": pr_points(y, proba),
        "calibration": calibration_points(y, proba, bins=params["calibration_bins"]),
        "importance": importance(
            model, X, y, repeats=params["importance_repeats"], seed=seed
        ),
        "confusion": pd.DataFrame(
            {
                "actual": np.where(y == 1, "churn", "stay"),
                "predicted": np.where(pred == 1, "churn", "stay"),
            }
        ),
        "predictions": pd.DataFrame(
            {
                contract.ID: test[contract.ID].astype("int64").to_numpy(),
                "label": y,
                "score": np.round(proba, DIGITS),
            }
        ),
    }


def _dump(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point: evaluate the saved model on the test split."""
    argparse.ArgumentParser(prog="churn evaluate", description=__doc__).parse_args(argv)
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
    _dump(slices.SLICES_FILE, by_slice)
    log.info("test metrics: %s", out["metrics"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
