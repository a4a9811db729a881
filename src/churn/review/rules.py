"""The gate's rules as pure functions: settings, the verdict, and how it is decided.

Rules, in the order they decide (settings in the `gate:` section of the BASE's
`params.yaml`, never the pull request's):

1. `validation`: the data failed validation -> fail (exit 1).
2. `cannot judge`: evidence is missing, unreadable, not a finite number, out of
   range, or too small to compare -> exit 2, naming what is missing.
3. `floor`: the metric is worse than the absolute floor -> fail (exit 1).
4. `first model`: only with `--first-model`, when the base has no model at all:
   the floor alone decides -> pass.
5. `regression`: the metric got worse than the base by more than `tolerance` AND
   the paired-bootstrap interval says the change is significant -> fail (exit 1).
6. `within noise`: worse by more than `tolerance`, but not significantly -> pass.
7. `tolerance`: better, unchanged, or worse by at most `tolerance` -> pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from churn import config, stats

CANNOT_JUDGE = "cannot judge"
FIRST_MODEL = "first model"
#: Metrics that live in [0, 1]; the others (log loss) only have to be >= 0.
BOUNDED = frozenset(stats.METRICS) - {"log_loss"}


def _number(section: dict[str, Any], key: str) -> float:
    value = section[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"gate.{key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"gate.{key} must be finite, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Rules:
    """The gate's settings: which metric, how much worse is tolerated, the floor."""

    metric: str
    tolerance: float
    floor: float
    resamples: int = 1000

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Rules:
        """Read the `gate:` section of a parsed `params.yaml`, with a clear error."""
        try:
            gate = params["gate"]
            metric = gate["metric"]
            tolerance, floor = _number(gate, "tolerance"), _number(gate, "floor")
            resamples = gate.get("resamples", 1000)
        except (KeyError, TypeError) as exc:
            raise KeyError(
                f"{config.FILES.params}: the gate section needs metric, tolerance, "
                f"floor ({exc})"
            ) from exc
        if metric not in stats.HIGHER_IS_BETTER:
            raise KeyError(
                f"{config.FILES.params} gate.metric {metric!r} is not one of "
                f"{list(stats.HIGHER_IS_BETTER)}"
            )
        if tolerance < 0:
            raise ValueError(f"gate.tolerance must be >= 0, got {tolerance}")
        if isinstance(resamples, bool) or not isinstance(resamples, int):
            raise ValueError(f"gate.resamples must be an integer, got {resamples!r}")
        if resamples < 1:
            raise ValueError(f"gate.resamples must be >= 1, got {resamples}")
        return cls(metric, tolerance, floor, resamples)

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger value of the metric is a better model."""
        return stats.HIGHER_IS_BETTER[self.metric]

    def below_floor(self, value: float) -> bool:
        """Whether `value` of the metric is worse than the absolute floor."""
        return value < self.floor if self.higher_is_better else value > self.floor


@dataclass(frozen=True)
class Verdict:
    """The gate's decision, the rule that made it, and why, in words."""

    passed: bool
    rule: str
    reason: str

    @property
    def status(self) -> str:
        """`pass`, `fail` or `cannot judge`."""
        if self.passed:
            return "pass"
        return CANNOT_JUDGE if self.rule == CANNOT_JUDGE else "fail"

    @property
    def exit_code(self) -> int:
        """0 pass, 1 a rule failed, 2 the gate cannot judge."""
        return {"pass": 0, "fail": 1, CANNOT_JUDGE: 2}[self.status]


def cannot_judge(*problems: str) -> Verdict:
    """The verdict for evidence the gate cannot judge: every problem, named."""
    return Verdict(False, CANNOT_JUDGE, "; ".join(problems))


def value_problem(metric: str, value: Any, where: str) -> str | None:
    """Why `value` is no usable value of `metric` (from `where`), or None if it is."""
    if value is None:
        return f"{where} has no `{metric}`"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"`{metric}` in {where} is {value!r}, not a number"
    if not math.isfinite(value):
        return f"`{metric}` in {where} is {value}, not a finite number"
    low, high = (0.0, 1.0) if metric in BOUNDED else (0.0, math.inf)
    if not low <= value <= high:
        return f"`{metric}` in {where} is {value}, outside [{low:g}, {high:g}]"
    return None


def _empty_success(validation: dict[str, Any], where: str) -> Verdict | None:
    """Cannot judge a `success: true` that checked no row or ran no expectation, or
    counts failures; None for a success that means something."""
    for key in ("rows", "expectations"):
        count = validation.get(key)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            return cannot_judge(
                f"`{key}` in {where} is {count!r} with `success: true`: "
                "a validation that checked nothing passes nothing"
            )
    failed = validation.get("failed")
    if isinstance(failed, bool) or not isinstance(failed, int) or failed != 0:
        return cannot_judge(f"`failed` in {where} is {failed!r} with `success: true`")
    return None


def validation_verdict(validation: Any) -> Verdict | None:
    """A verdict when the validation summary fails or cannot be read, else None.

    Only `success: true` over some rows and some expectations, none failed, passes;
    `false` fails the `validation` rule, and anything else (no file, `"no"`, `1`, a
    success that checked nothing) cannot be judged.
    """
    where = config.FILES.validation
    if validation is None:
        return cannot_judge(f"{where} is missing: the data was not validated")
    success = validation.get("success") if isinstance(validation, dict) else None
    if success is True:
        return _empty_success(validation, where)
    if success is False:
        failed = validation.get("failed", "?")
        return Verdict(False, "validation", f"data validation failed ({failed} failed)")
    if success is None and "success" in validation:
        return cannot_judge(
            f"{where} says the data could not be validated (`success` is null; "
            f"{config.FILES.validation_result} says why)"
        )
    return cannot_judge(f"`success` in {where} is {success!r}, not true or false")


def decide(
    rules: Rules,
    *,
    pr: dict[str, Any] | None,
    base: dict[str, Any] | None,
    interval: stats.Interval | None,
    validation: Any,
    first_model: bool = False,
) -> Verdict:
    """Apply the rules to the PR's and the base's metrics (`None` when absent), the
    bootstrap interval of the gate metric and the validation summary."""
    failed = validation_verdict(validation)
    if failed is not None:
        return failed
    m = rules.metric
    problem = value_problem(m, (pr or {}).get(m), f"this PR's {config.FILES.metrics}")
    if problem:
        return cannot_judge(problem)
    value = float(pr[m])
    if rules.below_floor(value):
        side = "below" if rules.higher_is_better else "above"
        return Verdict(
            False, "floor", f"`{m}` {value:.4f} is {side} the floor {rules.floor:.4f}"
        )
    if first_model and base is None:
        return Verdict(
            True,
            FIRST_MODEL,
            f"the first model (--first-model; the base has none): `{m}` "
            f"{value:.4f} clears the floor {rules.floor:.4f}",
        )
    problem = value_problem(
        m, (base or {}).get(m), f"the base's {config.FILES.metrics}"
    )
    if problem:
        return cannot_judge(problem)
    if interval is None or not (math.isfinite(interval.low + interval.high)):
        return cannot_judge(f"no bootstrap interval of `{m}`: no paired predictions")
    old = float(base[m])
    drop = (old - value) if rules.higher_is_better else (value - old)
    span = f"95% CI of the change [{interval.low:+.4f}, {interval.high:+.4f}]"
    worse = f"`{m}` got worse by {drop:.4f} (tolerance {rules.tolerance:.4f})"
    if drop > rules.tolerance and interval.worse:
        return Verdict(
            False, "regression", f"{worse} and the change is significant ({span})"
        )
    if drop > rules.tolerance:
        return Verdict(
            True, "within noise", f"{worse} but the change is within noise ({span})"
        )
    change = "did not get worse" if drop <= 0 else f"got worse by only {drop:.4f}"
    return Verdict(
        True, "tolerance", f"`{m}` {change} (tolerance {rules.tolerance:.4f}; {span})"
    )
