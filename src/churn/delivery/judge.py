"""The monitor's verdict on a window of the prediction log: healthy, or retrain?

Feature drift and prediction drift use the drift stage's statistics and thresholds
(`churn.pipeline.profile`); realised performance compares the served scores of
customers whose churn became known with the test split's ROC AUC interval.
"""

from __future__ import annotations

import decimal
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churn import contract, stats
from churn.delivery import columns, reference

# NumPy, pandas and the log and plot modules are imported where they are used:
# `churn monitor --help` reads the verdicts and `MIN_ROWS` without loading them.
if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from churn.delivery import logwindow

log = logging.getLogger(__name__)

HEALTHY, RETRAIN, CANNOT = "healthy", "retrain", "cannot judge"
#: Fewest scored customers (in all, by the judged model's version, and labelled) a
#: window needs to be judged.
MIN_ROWS = 200
CALIBRATION_BINS = 10
_ID_MIN, _ID_MAX = columns.id_range()
_ID_RULE = f"a whole number from {_ID_MIN} to {_ID_MAX}"


class CannotJudge(ValueError):
    """Something the verdict needs is missing or unreadable."""


def read_labels(path: Path) -> pd.DataFrame:
    """The actual churn of served customers: `customer_id` and `label` (1/0).

    A row without a valid customer id or churn refuses the whole file: labels that
    are partly wrong would make the realised ROC AUC wrong without saying so.
    """
    import pandas as pd

    try:
        # As text, no value read as missing: the message quotes what the file holds.
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise CannotJudge(f"{path}: cannot read the labels ({exc})") from exc
    missing = [c for c in (contract.ID, contract.TARGET) if c not in table.columns]
    if missing:
        raise CannotJudge(f"{path}: the labels lack column(s) {missing}")
    words = table[contract.TARGET].str.strip().str.lower()
    label = words.map({"yes": 1, "1": 1, "true": 1, "no": 0, "0": 0, "false": 0})
    _refuse_rows(path, table, contract.TARGET, label.isna(), "Yes/No or 1/0")
    ids = table[contract.ID].map(_label_id)
    _refuse_rows(path, table, contract.ID, ids.isna(), _ID_RULE)
    return pd.DataFrame(
        {
            contract.ID: pd.array(ids.tolist(), dtype="Int64"),
            "label": label.astype("int64"),
        }
    ).drop_duplicates(contract.ID, keep="last")


def _label_id(text: str) -> int | None:
    """The customer id `text` of a labels file names; None if it is not a valid one.

    Parsed as a decimal, never a float, so that ids beyond 2**53 stay exact; 12.0
    is the whole number 12, as the request model counts it.
    """
    try:
        value = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        return None
    # The range first: int() of 1e999999999 would build a billion-digit number.
    if not value.is_finite() or not _ID_MIN <= value <= _ID_MAX:
        return None
    return int(value) if value == value.to_integral_value() else None


def _refuse_rows(
    path: Path, table: pd.DataFrame, column: str, bad: pd.Series, rule: str
) -> None:
    """`CannotJudge` naming the file, column, rule and a few bad rows, if any."""
    if not bad.any():
        return
    # Line 1 is the header; row 0 is on line 2.
    shown = ", ".join(
        f"line {i + 2} ({table[column].iloc[i]!r})"
        for i in bad.to_numpy().nonzero()[0][:3]
    )
    raise CannotJudge(
        f"{path}: column {column} must be {rule}; {int(bad.sum())} row(s) are not, "
        f"e.g. {shown}"
    )


def realised(
    scored: pd.DataFrame, labels: pd.DataFrame, test: dict[str, Any], *, seed: int
) -> dict[str, Any]:
    """ROC AUC and calibration of the served scores of customers whose churn is known.

    A customer scored more than once counts with the latest score.
    """
    import numpy as np

    from churn.delivery import logwindow
    from churn.pipeline import plots

    latest = scored.dropna(subset=[contract.ID]).drop_duplicates(
        contract.ID, keep="last"
    )
    joined = latest.merge(labels, on=contract.ID)
    y, score = joined["label"].to_numpy(), joined[logwindow.SCORE].to_numpy()
    if len(joined) < MIN_ROWS or len(set(y.tolist())) < 2:
        raise CannotJudge(
            f"{len(joined)} served customer(s) have a label (both classes and at "
            f"least {MIN_ROWS} are needed to judge the realised ROC AUC)"
        )
    value, low, high = stats.bootstrap_interval(
        y, score, metric=reference.METRIC, resamples=int(test["resamples"]), seed=seed
    )
    points = plots.calibration_points(y, score, bins=CALIBRATION_BINS)
    gap = np.mean([abs(p["observed"] - p["predicted"]) for p in points])
    return {
        "rows": len(joined),
        "metric": reference.METRIC,
        "value": value,
        "low": low,
        "high": high,
        "test": {k: test[k] for k in ("value", "low", "high")},
        "within_test_interval": bool(test["low"] <= value <= test["high"]),
        "degraded": bool(high < test["low"]),
        "calibration": points,
        "calibration_gap": float(gap),
    }


def score_bins(entry: dict[str, Any], served: np.ndarray) -> list[dict[str, Any]]:
    """Share of the test split and of the served scores in each reference bin."""
    import numpy as np

    from churn.pipeline import profile

    edges = np.asarray(entry["edges"], float)
    ref = np.asarray(entry["counts"], float)
    cur = profile.bin_counts(served, edges).astype(float)
    bounds = [0.0, *edges.tolist(), 1.0]
    return [
        {
            "bin": f"{bounds[i]:.2f}-{bounds[i + 1]:.2f}",
            "reference": round(ref[i] / ref.sum(), 6),
            "served": round(cur[i] / cur.sum(), 6),
        }
        for i in range(len(ref))
    ]


def _log_summary(window: logwindow.Window) -> dict[str, Any]:
    return {
        "files": window.files,
        "lines": window.lines,
        "skipped_lines": window.skipped_lines,
        "bad_customers": window.bad_customers,
        "lost": {"records": window.lost_records, "customers": window.lost_customers},
        "first": window.first,
        "last": window.last,
    }


def _other_versions(rows: int, model: dict[str, Any], min_rows: int) -> str:
    """Why a window mostly scored by other model versions cannot be judged."""
    found = sorted(model["served"].items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{v} ({n})" for v, n in found if n) or "none"
    return (
        f"only {rows} scored customer(s) in the window were scored by model "
        f"{model['version']}, the package judged by (at least {min_rows} are "
        f"needed); the log holds version(s) {shown}: judge with the package the "
        "service runs (--package)"
    )


def judge(
    window: logwindow.Window,
    ref: dict[str, Any],
    *,
    version: str,
    labels: pd.DataFrame | None = None,
    min_rows: int = MIN_ROWS,
    seed: int = 0,
) -> dict[str, Any]:
    """The monitor's findings for one window of the log, and its verdict."""
    from churn.delivery import logwindow
    from churn.pipeline import profile

    if min_rows < 1:
        raise ValueError(f"min_rows is {min_rows}: drift needs at least 1 row")
    scored = window.scored
    limits = ref["thresholds"]
    versions = scored[logwindow.VERSION].value_counts() if len(scored) else {}
    out: dict[str, Any] = {
        "verdict": CANNOT,
        "reasons": [],
        "rows": len(scored),
        "drifted_features": [],
        "model": {
            "version": version,
            "served": {str(k): int(v) for k, v in dict(versions).items()},
        },
        "thresholds": limits,
        "log": _log_summary(window),
        "refused": {"requests": window.refused_requests, "rules": window.refused},
        "features": {},
        "prediction": None,
        "performance": None,
    }
    if len(scored) < min_rows:
        out["reasons"] = [
            f"only {len(scored)} scored customer(s) in the window: at least "
            f"{min_rows} are needed to judge drift"
        ]
        return out
    served = scored[scored[logwindow.VERSION] == version][logwindow.SCORE]
    if len(served) < min_rows:
        # The package's profile describes its own model and training data; traffic
        # another model scored cannot be judged by it, so this never passes.
        out["reasons"] = [_other_versions(len(served), out["model"], min_rows)]
        return out
    knobs = {"psi_threshold": limits["psi"], "p_value": limits["p_value"]}
    features = profile.compare(ref["features"], scored, **knobs)
    drifted = [name for name, s in features.items() if s["drift"]]
    out["features"], out["drifted_features"] = features, drifted
    reasons = []
    if drifted:
        named = ", ".join(f"{n} (PSI {features[n]['psi']:.3f})" for n in drifted)
        reasons.append(
            f"{len(drifted)} feature(s) drifted from the training data: {named}"
        )
    score = profile.score_feature(ref["score"], served)
    score["drift"] = profile.drifts(score, **knobs)
    score |= {"rows": len(served), "mean": float(served.mean())}
    score["reference_mean"] = ref["score"]["mean"]
    score["bins"] = score_bins(ref["score"], served.to_numpy())
    out["prediction"] = score
    if score["drift"]:
        reasons.append(
            f"the scores of model {version} drifted from its test-split scores "
            f"(PSI {score['psi']:.3f}, mean {score['mean']:.3f} against "
            f"{score['reference_mean']:.3f})"
        )
    if labels is not None:
        try:
            # The package's test interval holds for its own model's scores only.
            mine = scored[scored[logwindow.VERSION] == version]
            perf = realised(mine, labels, ref["performance"], seed=seed)
        except CannotJudge as exc:
            out["reasons"] = [str(exc)]
            return out
        out["performance"] = perf
        if perf["degraded"]:
            reasons.append(
                f"the realised ROC AUC {perf['value']:.3f} [{perf['low']:.3f}, "
                f"{perf['high']:.3f}] is below the test interval "
                f"[{perf['test']['low']:.3f}, {perf['test']['high']:.3f}]"
            )
    out["verdict"] = RETRAIN if reasons else HEALTHY
    out["reasons"] = reasons
    return out
