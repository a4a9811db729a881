"""The reference profile a model package carries: what its model learnt from.

Written once, when the package is built (`profile.json`), and read by
`churn monitor` to judge the service's traffic:

* `features`: the profile of every feature over the training split
  (`churn.pipeline.profile`, the same statistics as the drift stage);
* `score`: the profile of the model's churn probabilities on the test split, to
  see the served scores drift;
* `performance`: the test ROC AUC with its 95% bootstrap interval, to judge the
  realised ROC AUC once the actual churn of served customers is known;
* `thresholds`: the drift stage's settings (`drift:` in `params.yaml`) at build time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from churn import contract, stats

# The profile module (pandas, SciPy) is imported in `build`: the commands that
# import this module answer `--help` without loading it.
if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

#: The file in the package, and the version of its layout.
FILE = "profile.json"
FORMAT = 1
METRIC = "roc_auc"
#: Used when `params.yaml` has no `drift:` or `gate:` section.
DEFAULTS = {"psi_threshold": 0.2, "p_value": 0.001, "bins": 10, "resamples": 1000}


def thresholds(params: dict[str, Any]) -> dict[str, Any]:
    """The drift thresholds and bins the profile is built and judged with."""
    drift = {**DEFAULTS, **(params.get("drift") or {})}
    return {
        "psi": drift["psi_threshold"],
        "p_value": drift["p_value"],
        "bins": drift["bins"],
    }


def build(
    model: Pipeline,
    train: pd.DataFrame,
    test: pd.DataFrame,
    params: dict[str, Any],
) -> dict[str, Any]:
    """The reference profile of `model`, from its prepared train and test splits."""
    from churn.pipeline import profile

    limits = thresholds(params)
    resamples = int((params.get("gate") or {}).get("resamples", DEFAULTS["resamples"]))
    features = contract.feature_names()
    scores = model.predict_proba(test[features])[:, 1]
    value, low, high = stats.bootstrap_interval(
        test[contract.TARGET].to_numpy(),
        scores,
        metric=METRIC,
        resamples=resamples,
        seed=int(params.get("seed", 0)),
    )
    log.info(
        "reference profile: %d training rows, test %s %.4f [%.4f, %.4f]",
        len(train),
        METRIC,
        value,
        low,
        high,
    )
    return {
        "format": FORMAT,
        "rows": len(train),
        "thresholds": limits,
        "features": profile.build(train, bins=limits["bins"]),
        "score": profile.number_profile(scores, bins=limits["bins"]),
        "performance": {
            "metric": METRIC,
            "value": value,
            "low": low,
            "high": high,
            "level": 0.95,
            "rows": len(test),
            "resamples": resamples,
        },
    }


def _finite(value: Any) -> bool:
    # JSON's numbers only: a bool is not one, nor is NaN or an infinity.
    return type(value) in (int, float) and math.isfinite(value)


def _numbers(value: Any) -> bool:
    return isinstance(value, list) and all(map(_finite, value))


#: What each rule asks of a value, and how to tell.
_RULES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "number": ("a finite number", _finite),
    "positive": ("a finite number above 0", lambda v: _finite(v) and v > 0),
    "probability": ("a number from 0 to 1", lambda v: _finite(v) and 0 <= v <= 1),
    "count": ("a whole number of at least 1", lambda v: type(v) is int and v >= 1),
    "numbers": ("a list of finite numbers", _numbers),
    "kind": ("'number'", lambda v: v == "number"),
}
#: The fields of each part `churn monitor` reads, with their rule.
_FIELDS: dict[str, dict[str, str]] = {
    "thresholds": {"psi": "positive", "p_value": "probability"},
    "performance": {
        "value": "number",
        "low": "number",
        "high": "number",
        "resamples": "count",
    },
    "score": {
        "kind": "kind",
        "mean": "number",
        "edges": "numbers",
        "counts": "numbers",
        "values": "numbers",
        "weights": "numbers",
    },
}


def _shown(value: Any) -> str:
    """`value` for a message: a list by its first value that breaks the rule."""
    if isinstance(value, list):
        bad = next((i for i, v in enumerate(value) if not _finite(v)), None)
        if bad is not None:
            return f"{value[bad]!r} at index {bad}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_part(part: str, found: Any) -> None:
    """`ValueError` naming the first field of `part` the monitor cannot read."""
    if not isinstance(found, dict):
        raise ValueError(
            f"{FILE}: {part!r} is not an object but {type(found).__name__}"
        )
    for key, rule in _FIELDS[part].items():
        if key not in found:
            raise ValueError(f"{FILE}: {part!r} lacks {key!r} (it has {sorted(found)})")
        wanted, ok = _RULES[rule]
        if not ok(found[key]):
            raise ValueError(
                f"{FILE}: {part!r} has {key!r} = {_shown(found[key])}; it must be "
                f"{wanted}"
            )


def check(document: Any) -> dict[str, Any]:
    """`document` if it is a reference profile this code reads; else `ValueError`.

    Every field `churn monitor` reads is checked here, so that a profile it cannot
    use is refused in one line instead of failing halfway through a verdict.
    """
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValueError(f"{FILE} is not a reference profile of format {FORMAT}")
    missing = sorted(set(contract.feature_names()) - set(document.get("features", {})))
    if missing:
        raise ValueError(f"{FILE} lacks the feature(s) {missing}")
    for key in ("score", "performance", "thresholds"):
        if key not in document:
            raise ValueError(f"{FILE} lacks {key!r}")
        _check_part(key, document[key])
    return document
