"""The release floor fails closed, and a package holds strict JSON only.

A metric that is missing, not a number, NaN, infinite or out of its range cannot
be judged against the floor: it is refused, never shipped.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest

from churn import config, contract, model_io
from churn.delivery import contents, package, release, samples
from churn.review import gate
from delivery_helpers import PARAMS, build_package, bundled, fitted, split

RULES = gate.Rules(metric="roc_auc", tolerance=0.005, floor=0.8)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (math.nan, "roc_auc is nan, not a finite number in [0, 1]"),
        (math.inf, "roc_auc is inf, not a finite number in [0, 1]"),
        (-math.inf, "roc_auc is -inf, not a finite number in [0, 1]"),
        (7, "roc_auc is 7, not a finite number in [0, 1]"),
        (-0.1, "roc_auc is -0.1, not a finite number in [0, 1]"),
        ("0.9", "roc_auc is '0.9', not a number"),
        (True, "roc_auc is True, not a number"),
        ([0.9], "roc_auc is [0.9], not a number"),
        (None, "roc_auc is missing from the metrics"),
    ],
)
def test_a_metric_that_cannot_be_judged_is_refused(value, reason: str) -> None:
    metrics = {"roc_auc": value, "f1": 0.6}
    assert release.floor_failure(metrics, RULES) == f"cannot judge the floor: {reason}"
    with pytest.raises(release.CannotJudgeError, match="cannot judge"):
        release.check_floor(metrics, PARAMS)


def test_metrics_that_are_not_a_table_cannot_be_judged() -> None:
    assert release.floor_failure(None, RULES) == (
        "cannot judge the floor: there are no metrics"
    )
    assert release.floor_failure([0.9], RULES) == (
        "cannot judge the floor: the metrics are list"
    )
    assert release.floor_failure({}, RULES) == (
        "cannot judge the floor: roc_auc is missing from the metrics"
    )


def test_ranges_follow_the_metric() -> None:
    # Log loss has no upper bound: 1.3 is a bad model, not an unreadable number.
    loss = gate.Rules(metric="log_loss", tolerance=0.01, floor=0.5)
    assert release.floor_failure({"log_loss": 1.3}, loss) == (
        "log_loss 1.3 is above the floor 0.5"
    )
    assert release.floor_failure({"log_loss": -1}, loss).startswith("cannot judge")
    assert release.floor_failure({"roc_auc": 1}, RULES) is None
    assert release.floor_failure({"roc_auc": 0.0}, RULES) == (
        "roc_auc 0.0 is below the floor 0.8"
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"roc_auc": NaN}', "roc_auc is nan"),
        ('{"roc_auc": Infinity}', "roc_auc is inf"),
        ('{"roc_auc": 7}', "roc_auc is 7"),
        ('{"f1": 0.9}', "roc_auc is missing"),
        ("[0.9]", "the metrics are list"),
    ],
)
def test_churn_package_ships_nothing_it_cannot_judge(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    text: str,
    reason: str,
) -> None:
    metrics = tmp_path / "metrics.json"
    metrics.write_text(text)
    monkeypatch.setattr(config, "MODEL_METRICS", metrics)
    out = tmp_path / "dist"
    with caplog.at_level(logging.ERROR):
        assert package.main(["--model-version", "1.0.0", "--out", str(out)]) == 1
    assert f"cannot judge the floor: {reason}" in caplog.text
    assert not out.exists()


def test_a_nan_anywhere_packages_nothing(tmp_path: Path) -> None:
    # The floor's metric is fine; another one is NaN. JSON has no NaN: refused.
    metrics = json.loads((config.ROOT / "metrics" / "metrics.json").read_text())
    with pytest.raises(contents.PackageError, match="manifest.json: not strict JSON"):
        package.build(
            tmp_path / "dist",
            version="1.0.0",
            model_file=_model(tmp_path),
            params=PARAMS,
            metrics={**metrics, "f1": math.nan},
            lock={},
            validation={},
            customers=_customers(),
            card={},
            commit=None,
        )
    assert not (tmp_path / "dist").exists()


def test_the_manifest_is_strict_json(tmp_path: Path) -> None:
    built = build_package(tmp_path)
    for path in built.glob("*.json"):
        contents.loads(path.read_text())  # raises on NaN or Infinity
    with pytest.raises(ValueError, match="NaN is not JSON"):
        contents.loads('{"roc_auc": NaN}')
    with pytest.raises(contents.PackageError, match="not strict JSON"):
        contents.dumps({"roc_auc": math.inf}, "manifest.json")


def _model(tmp_path: Path) -> Path:
    path = tmp_path / "model.skops"
    model_io.save(fitted(), path)
    return path


def _customers():
    return samples.pick_examples(bundled(), split()[1][contract.ID], 3)
