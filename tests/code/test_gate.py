"""The gate's rules, one case each: which rule decides, and pass or fail."""

import pytest

from churn import stats
from churn.review import gate

RULES = gate.Rules(metric="roc_auc", tolerance=0.005, floor=0.75)
OK = {"success": True, "rows": 100, "expectations": 68, "failed": 0}


def _interval(base: float, pr: float, low: float, high: float) -> stats.Interval:
    return stats.Interval("roc_auc", base, pr, low, high)


def _decide(pr, base, interval, validation=OK) -> gate.Verdict:
    return gate.decide(
        RULES,
        pr=None if pr is None else {"roc_auc": pr},
        base=None if base is None else {"roc_auc": base},
        interval=interval,
        validation=validation,
    )


def test_improved_passes() -> None:
    verdict = _decide(0.86, 0.84, _interval(0.84, 0.86, 0.01, 0.03))
    assert verdict.passed and verdict.rule == "tolerance"
    assert "did not get worse" in verdict.reason


def test_unchanged_passes() -> None:
    verdict = _decide(0.84, 0.84, _interval(0.84, 0.84, 0.0, 0.0))
    assert (verdict.status, verdict.rule) == ("pass", "tolerance")


def test_small_drop_within_tolerance_passes_even_if_significant() -> None:
    verdict = _decide(0.838, 0.84, _interval(0.84, 0.838, -0.003, -0.001))
    assert verdict.passed and verdict.rule == "tolerance"
    assert "only 0.0020" in verdict.reason


def test_significant_regression_fails() -> None:
    verdict = _decide(0.80, 0.84, _interval(0.84, 0.80, -0.06, -0.02))
    assert (verdict.status, verdict.rule) == ("fail", "regression")
    assert "0.0400" in verdict.reason and "significant" in verdict.reason


def test_large_but_noisy_drop_passes_as_within_noise() -> None:
    verdict = _decide(0.83, 0.84, _interval(0.84, 0.83, -0.03, 0.01))
    assert verdict.passed and verdict.rule == "within noise"


def test_missing_base_passes_on_the_floor_alone() -> None:
    verdict = _decide(0.80, None, None)
    assert verdict.passed and verdict.rule == "no base"


def test_below_the_floor_fails_even_without_a_base() -> None:
    verdict = _decide(0.70, None, None)
    assert (verdict.status, verdict.rule) == ("fail", "floor")


def test_failed_validation_fails_first() -> None:
    bad = {"success": False, "rows": 100, "expectations": 68, "failed": 3}
    verdict = _decide(0.90, 0.84, _interval(0.84, 0.9, 0.01, 0.1), validation=bad)
    assert (verdict.status, verdict.rule) == ("fail", "validation")
    assert "3 failed" in verdict.reason


def test_no_metric_fails() -> None:
    assert _decide(None, 0.84, None).rule == "no metrics"


def test_lower_is_better_metrics_are_gated_the_other_way() -> None:
    rules = gate.Rules(metric="log_loss", tolerance=0.01, floor=0.6)
    interval = stats.Interval("log_loss", 0.42, 0.48, 0.03, 0.09)
    verdict = gate.decide(
        rules,
        pr={"log_loss": 0.48},
        base={"log_loss": 0.42},
        interval=interval,
        validation=OK,
    )
    assert verdict.rule == "regression"
    ceiling = gate.decide(
        rules, pr={"log_loss": 0.7}, base=None, interval=None, validation=OK
    )
    assert ceiling.rule == "floor" and "above the floor" in ceiling.reason


def test_rules_come_from_params() -> None:
    params = {"gate": {"metric": "pr_auc", "tolerance": 0.01, "floor": 0.5}}
    assert gate.Rules.from_params(params) == gate.Rules("pr_auc", 0.01, 0.5, 1000)
    with pytest.raises(KeyError, match="gate section"):
        gate.Rules.from_params({})
    with pytest.raises(KeyError, match="not one of"):
        gate.Rules.from_params({"gate": {**params["gate"], "metric": "auc"}})


def test_main_exits_2_naming_a_missing_gate_section(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def gather_without_gate_section(base: str) -> gate.Evidence:
        return gate.Rules.from_params({"seed": 1})  # raises KeyError

    monkeypatch.setattr(gate, "gather", gather_without_gate_section)
    assert gate.main(["--base", "main"]) == 2
    assert "the gate section needs metric, tolerance, floor" in caplog.text
