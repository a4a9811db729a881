"""The gate's rules, one case each: which rule decides, and pass, fail or cannot
judge; and the verdict file's fingerprint, which a stale or edited file fails."""

import math

import pytest

from churn import stats
from churn.review import gate, rules

RULES = gate.Rules(metric="roc_auc", tolerance=0.005, floor=0.75)
OK = {"success": True, "rows": 100, "expectations": 68, "failed": 0}


def _interval(base: float, pr: float, low: float, high: float) -> stats.Interval:
    return stats.Interval("roc_auc", base, pr, low, high)


def _decide(pr, base, interval, validation=OK, first_model=False) -> gate.Verdict:
    return gate.decide(
        RULES,
        pr=None if pr is None else {"roc_auc": pr},
        base=None if base is None else {"roc_auc": base},
        interval=interval,
        validation=validation,
        first_model=first_model,
    )


def test_improved_passes() -> None:
    verdict = _decide(0.86, 0.84, _interval(0.84, 0.86, 0.01, 0.03))
    assert verdict.passed and verdict.rule == "tolerance" and verdict.exit_code == 0
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
    assert (verdict.status, verdict.rule, verdict.exit_code) == (
        "fail",
        "regression",
        1,
    )
    assert "0.0400" in verdict.reason and "significant" in verdict.reason


def test_large_but_noisy_drop_passes_as_within_noise() -> None:
    verdict = _decide(0.83, 0.84, _interval(0.84, 0.83, -0.03, 0.01))
    assert verdict.passed and verdict.rule == "within noise"


def test_a_missing_base_cannot_be_judged() -> None:
    verdict = _decide(0.80, None, None)
    assert (verdict.status, verdict.exit_code) == ("cannot judge", 2)
    assert "the base's metrics/metrics.json has no `roc_auc`" in verdict.reason


def test_a_missing_interval_cannot_be_judged() -> None:
    verdict = _decide(0.80, 0.84, None)
    assert verdict.exit_code == 2 and "no paired predictions" in verdict.reason
    nan = _interval(0.84, 0.80, math.nan, math.nan)
    assert _decide(0.80, 0.84, nan).exit_code == 2


def test_the_first_model_passes_on_the_floor_alone_only_with_the_flag() -> None:
    verdict = _decide(0.80, None, None, first_model=True)
    assert verdict.passed and verdict.rule == "first model"
    below = _decide(0.70, None, None, first_model=True)
    assert (below.status, below.rule) == ("fail", "floor")


def test_below_the_floor_fails_before_any_comparison() -> None:
    verdict = _decide(0.70, 0.84, None)
    assert (verdict.status, verdict.rule) == ("fail", "floor")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"expectations": 0}, "`expectations`"),
        ({"rows": 0}, "`rows`"),
        ({"rows": None}, "`rows`"),
        ({"expectations": True}, "`expectations`"),
        ({"failed": 3}, "`failed`"),
        ({"failed": False}, "`failed`"),
        ({"failed": 0.0}, "`failed`"),
        ({"success": None, "expectations": 0}, "could not be validated"),
    ],
)
def test_a_success_that_checked_nothing_cannot_be_judged(change, named) -> None:
    verdict = _decide(
        0.90, 0.84, _interval(0.84, 0.9, 0.01, 0.1), validation={**OK, **change}
    )
    assert (verdict.status, verdict.exit_code) == ("cannot judge", 2)
    assert named in verdict.reason and "validation.json" in verdict.reason


def test_failed_validation_fails_first() -> None:
    bad = {"success": False, "rows": 100, "expectations": 68, "failed": 3}
    verdict = _decide(0.90, 0.84, _interval(0.84, 0.9, 0.01, 0.1), validation=bad)
    assert (verdict.status, verdict.rule, verdict.exit_code) == (
        "fail",
        "validation",
        1,
    )
    assert "3 failed" in verdict.reason


@pytest.mark.parametrize(
    "validation", [None, {"success": "no"}, {"success": 1}, {}, ["success"]]
)
def test_validation_that_is_not_exactly_true_or_false_cannot_be_judged(
    validation,
) -> None:
    verdict = _decide(0.90, 0.84, _interval(0.84, 0.9, 0.01, 0.1), validation)
    assert (verdict.status, verdict.exit_code) == ("cannot judge", 2)
    assert "validation.json" in verdict.reason


def test_no_metric_cannot_be_judged() -> None:
    verdict = _decide(None, 0.84, _interval(0.84, 0.9, 0.01, 0.1))
    assert verdict.exit_code == 2
    assert "this PR's metrics/metrics.json has no `roc_auc`" in verdict.reason


BROKEN = [
    (math.nan, "not a finite number"),
    (math.inf, "not a finite number"),
    (-math.inf, "not a finite number"),
    (7, "outside [0, 1]"),
    (-0.1, "outside [0, 1]"),
    ("0.9", "not a number"),
    (True, "not a number"),
]


@pytest.mark.parametrize(("value", "words"), BROKEN)
def test_a_metric_that_is_no_plain_number_cannot_be_judged(value, words) -> None:
    good = _interval(0.84, 0.9, 0.01, 0.1)
    for verdict in (_decide(value, 0.84, good), _decide(0.9, value, good)):
        assert verdict.exit_code == 2, verdict
        assert words in verdict.reason
    assert _decide(value, None, None, first_model=True).exit_code == 2


def test_log_loss_is_bounded_below_only() -> None:
    assert rules.value_problem("log_loss", 2.5, "x") is None
    assert "outside [0, inf]" in rules.value_problem("log_loss", -1, "x")


def test_lower_is_better_metrics_are_gated_the_other_way() -> None:
    loss = gate.Rules(metric="log_loss", tolerance=0.01, floor=0.6)
    interval = stats.Interval("log_loss", 0.42, 0.48, 0.03, 0.09)
    verdict = gate.decide(
        loss,
        pr={"log_loss": 0.48},
        base={"log_loss": 0.42},
        interval=interval,
        validation=OK,
    )
    assert verdict.rule == "regression"
    ceiling = gate.decide(
        loss, pr={"log_loss": 0.7}, base=None, interval=None, validation=OK
    )
    assert ceiling.rule == "floor" and "above the floor" in ceiling.reason


def test_rules_come_from_params() -> None:
    params = {"gate": {"metric": "pr_auc", "tolerance": 0.01, "floor": 0.5}}
    assert gate.Rules.from_params(params) == gate.Rules("pr_auc", 0.01, 0.5, 1000)
    with pytest.raises(KeyError, match="gate section"):
        gate.Rules.from_params({})
    with pytest.raises(KeyError, match="not one of"):
        gate.Rules.from_params({"gate": {**params["gate"], "metric": "auc"}})


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("tolerance", math.nan, "finite"),
        ("floor", math.inf, "finite"),
        ("floor", "0.8", "a number"),
        ("tolerance", -0.1, ">= 0"),
        ("resamples", 0, ">= 1"),
        ("resamples", 10.5, "integer"),
    ],
)
def test_settings_that_are_no_plain_numbers_are_refused(key, value, words) -> None:
    params = {"gate": {"metric": "roc_auc", "tolerance": 0.01, "floor": 0.5}}
    with pytest.raises(ValueError, match=words):
        gate.Rules.from_params({"gate": {**params["gate"], key: value}})


# --- the verdict file ------------------------------------------------------------

PRINT = {
    "base": "main",
    "base_commit": "a" * 40,
    "first_model": False,
    "files": {"metrics/metrics.json": "b" * 64, "metrics/validation.json": None},
}


def _content(verdict: gate.Verdict, fingerprint=PRINT) -> dict:
    return {
        "format": gate.VERDICT_FORMAT,
        "verdict": verdict.status,
        "rule": verdict.rule,
        "reason": verdict.reason,
        "exit_code": verdict.exit_code,
        "notes": ["this PR changes its own gate: main's settings apply"],
        "evidence": fingerprint,
    }


@pytest.mark.parametrize(
    "verdict",
    [
        gate.Verdict(True, "tolerance", "fine"),
        gate.Verdict(False, "regression", "worse"),
        rules.cannot_judge("no base"),
    ],
    ids=lambda v: v.status,
)
def test_a_verdict_file_of_this_evidence_gives_its_verdict(verdict) -> None:
    replayed, notes = gate.replay(_content(verdict), PRINT)
    assert replayed == verdict
    assert notes == ["this PR changes its own gate: main's settings apply"]


@pytest.mark.parametrize(
    "change",
    [
        {"base_commit": "c" * 40},
        {"first_model": True},
        {"base": "origin/main"},
        {"files": {**PRINT["files"], "metrics/metrics.json": "d" * 64}},
        {"files": {**PRINT["files"], "metrics/validation.json": "e" * 64}},
    ],
)
def test_a_verdict_file_of_other_evidence_is_refused(change) -> None:
    passed = _content(gate.Verdict(True, "tolerance", "fine"))
    with pytest.raises(ValueError, match="other evidence"):
        gate.replay(passed, {**PRINT, **change})


@pytest.mark.parametrize(
    "edit",
    [
        {"exit_code": 0, "verdict": "fail"},
        {"exit_code": 0, "verdict": "cannot judge"},
        {"exit_code": 1},
        {"rule": None},
        {"format": 0},
        {"evidence": None},
    ],
)
def test_a_verdict_file_that_contradicts_itself_is_refused(edit) -> None:
    content = {**_content(gate.Verdict(True, "tolerance", "fine")), **edit}
    with pytest.raises(ValueError):
        gate.replay(content, PRINT)
    with pytest.raises(ValueError, match="format"):
        gate.replay(["not", "a", "verdict"], PRINT)
