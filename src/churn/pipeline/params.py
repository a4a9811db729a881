"""Stage `params`: check `params.yaml` before any stage runs.

DVC deletes a stage's outputs before it runs the stage, so a bad value found by the
stage itself (an unknown estimator, a test share of 1.5, month 99 of 7) would cost
them. This stage runs first, every other one depends on its mark, and DVC keeps the
mark in place while it runs (`persist`): a bad value stops `dvc repro` here, with
every output and `dvc.lock` as they were. The rules come from the code that reads
each value (`train.ESTIMATORS` and scikit-learn's constraints, `batches.SHIFTS` and
`batches.months`, `stats.METRICS`); `gate` and `serve`, read by no stage, are left
to their readers.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from churn import config, split, stats
from churn.data import batches
from churn.pipeline import train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """One value of `params.yaml` that breaks a rule."""

    key: str
    value: Any
    rule: str

    def __str__(self) -> str:
        return f"{self.key}: {self.value!r} is not allowed: {self.rule}"


MISSING = "<missing>"  # what a key left out of its section shows


def _whole(
    key: str, value: Any, low: int, high: int | None = None, of: str = ""
) -> list[Problem]:
    """A whole number in `low..high` (no upper bound when `high` is None).

    `of` names where the bound comes from, for the message.
    """
    span = f"from {low} to {high}" if high is not None else f"at least {low}"
    span += f" ({of})" if of else ""
    whole = isinstance(value, int) and not isinstance(value, bool)
    if whole and low <= value and (high is None or value <= high):
        return []
    return [Problem(key, value, f"a whole number {span}")]


def _number(
    key: str, value: Any, *, above: float, below: float | None = None, least=False
) -> list[Problem]:
    """A finite number above `above` (or equal to it, if `least`), below `below`."""
    span = f"at least {above:g}" if least else f"above {above:g}"
    span += f" and below {below:g}" if below is not None else ""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if (
        number
        and math.isfinite(value)
        and (value >= above if least else value > above)
        and (below is None or value < below)
    ):
        return []
    return [Problem(key, value, f"a number {span}")]


def _choice(key: str, value: Any, choices: list[str], origin: str) -> list[Problem]:
    if isinstance(value, str) and value in choices:
        return []
    return [Problem(key, value, f"one of {choices} ({origin})")]


def _flag(key: str, value: Any) -> list[Problem]:
    return [] if isinstance(value, bool) else [Problem(key, value, "true or false")]


def _path(key: str, value: Any, exists: Callable[[str], bool]) -> list[Problem]:
    if not isinstance(value, str) or not value:
        return [Problem(key, value, "a file path relative to the project root")]
    if not exists(value):
        return [Problem(key, value, "an existing file (relative to the project root)")]
    return []


def _section(
    params: Mapping[str, Any],
    name: str,
    rules: Mapping[str, Callable[[str, Any], list[Problem]]],
    optional: frozenset[str] = frozenset(),
) -> list[Problem]:
    """Each rule of section `name` applied to its key; unknown and missing keys.

    A key in `optional` may be left out.
    """
    section = params.get(name)
    if not isinstance(section, Mapping):
        return [Problem(name, section, "a section of keys " + ", ".join(rules))]
    found = [
        Problem(
            f"{name}.{key}",
            section[key],
            f"not a key of {name}; known: " + ", ".join(rules),
        )
        for key in section
        if key not in rules
    ]
    for key, rule in rules.items():
        key_name = f"{name}.{key}"
        if key not in section:
            if key not in optional:
                found.append(Problem(key_name, MISSING, "required"))
        else:
            found += rule(key_name, section[key])
    return found


def _batches(params: Mapping[str, Any], exists: Callable[[str], bool]) -> list[Problem]:
    section = params.get("batches")
    months = section.get("months") if isinstance(section, Mapping) else None
    top = None if _whole("", months, 1) else months

    def shifts(key: str, value: Any) -> list[Problem]:
        if value is None:
            return []
        if not isinstance(value, Mapping):
            return [Problem(key, value, "a map of shift name to starting month")]
        out = []
        for name, start in value.items():
            out += _choice(
                f"{key}.{name}", name, sorted(batches.SHIFTS), "batches.SHIFTS"
            )
            if start is not None:
                out += _whole(f"{key}.{name}", start, 1, top, "batches.months")
        return out

    rules = {
        "source": lambda k, v: _path(k, v, exists),
        "months": lambda k, v: _whole(k, v, 1),
        # The month bound is batches.months itself, so it holds for any cut.
        "through_month": lambda k, v: _whole(k, v, 1, top, "batches.months"),
        "shifts": shifts,
    }
    return _section(params, "batches", rules)


def _estimator(name: str, values: Any) -> list[Problem]:
    """Hyperparameters of estimator `name`, by scikit-learn's own constraints."""
    key = f"train.{name}"
    if values is None:
        return []
    if not isinstance(values, Mapping):
        return [Problem(key, values, "a map of hyperparameters")]
    cls = train.estimator_class(name)
    known = sorted(set(cls().get_params()) - {"random_state"})
    unknown = f"not a parameter of {cls.__name__}; choose from {known}"
    found = [
        Problem(f"{key}.{k}", v, "set by `seed`" if k == "random_state" else unknown)
        for k, v in values.items()
        if k not in known
    ]
    if found:
        return found
    try:
        # The constraints `fit` would enforce, checked without fitting.
        cls(**values)._validate_params()
    except (ValueError, TypeError) as exc:
        bad = re.search(r"The '(\w+)' parameter", str(exc))
        if bad is None:
            return [Problem(key, values, str(exc))]
        return [Problem(f"{key}.{bad[1]}", values[bad[1]], str(exc))]
    return []


def _train(params: Mapping[str, Any]) -> list[Problem]:
    rules: dict[str, Callable[[str, Any], list[Problem]]] = {
        "estimator": lambda k, v: _choice(
            k, v, list(train.ESTIMATORS), "churn.pipeline.train.ESTIMATORS"
        ),
    }
    for name in train.ESTIMATORS:
        rules[name] = lambda k, v, name=name: _estimator(name, v)
    # An estimator's own section may be left out: scikit-learn's defaults apply.
    return _section(params, "train", rules, frozenset(train.ESTIMATORS))


def _test_size(key: str, value: Any) -> list[Problem]:
    # pandas (and scikit-learn, by `train.estimator_class`) load only when values are
    # checked, so that `churn params --help` answers without them.
    import pandas as pd

    found = _number(key, value, above=0)
    if found:
        return found
    try:
        # One customer id is enough for `split.is_test` to judge a test share.
        split.is_test(pd.Series([1]), test_size=value, seed=0)
    except ValueError as exc:
        return [Problem(key, value, str(exc))]
    return []


def check(
    params: Mapping[str, Any], *, exists: Callable[[str], bool] = lambda _: True
) -> list[Problem]:
    """Every problem of the values the stages read, in `params.yaml` order of keys.

    `exists(path)` says whether a path named in params is a file; the entry point
    looks in the project, tests may pass their own.
    """
    if not isinstance(params, Mapping):
        return [Problem("params.yaml", params, "a map of sections")]
    higher = [m for m in stats.METRICS if stats.HIGHER_IS_BETTER[m]]
    found = _whole("seed", params.get("seed", MISSING), 0, 2**32 - 1)
    found += _batches(params, exists)
    found += _section(
        params,
        "ingest",
        {
            # The batches stage writes the usual source; anything else must exist.
            "source": lambda k, v: (
                [] if v == config.FILES.all_batches else _path(k, v, exists)
            )
        },
    )
    found += _section(params, "prepare", {"test_size": _test_size})
    found += _train(params)
    found += _section(
        params,
        "drift",
        {
            "psi_threshold": lambda k, v: _number(k, v, above=0),
            "p_value": lambda k, v: _number(k, v, above=0, below=1),
            "bins": lambda k, v: _whole(k, v, 2),
            "block": _flag,
        },
    )
    found += _section(
        params,
        "compare",
        {
            # compare's verdict reads a larger value as better.
            "metric": lambda k, v: _choice(k, v, higher, "higher-is-better metrics"),
            "tolerance": lambda k, v: _number(k, v, above=0, least=True),
        },
    )
    found += _section(
        params,
        "evaluate",
        {
            "threshold": lambda k, v: _number(k, v, above=0, below=1),
            "calibration_bins": lambda k, v: _whole(k, v, 2),
            "importance_repeats": lambda k, v: _whole(k, v, 1),
        },
    )
    return found


#: The sections `check` judges: the ones the stages read.
SECTIONS = tuple("seed batches ingest prepare train drift compare evaluate".split())


def main(argv: list[str] | None = None) -> int:
    """Entry point: exit 1 naming every bad value; write the check's mark if none."""
    parser = argparse.ArgumentParser(prog="churn params", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.parse_args(argv)
    config.setup_logging()
    try:
        loaded = config.load_params()
    except config.PARAMS_READ_ERRORS as exc:
        log.error(
            "%s: cannot read it; fix it, nothing has run and every output is as it "
            "was:\n  %s",
            config.FILES.params,
            str(exc).replace("\n", "\n  "),
        )
        return 1
    found = check(loaded, exists=lambda p: config.resolve(p).is_file())
    if found:
        log.error(
            "%s: %d bad value(s); fix them, nothing has run and every output is "
            "as it was:\n%s",
            config.FILES.params,
            len(found),
            "\n".join(f"  {problem}" for problem in found),
        )
        return 1
    config.PARAMS_CHECK.parent.mkdir(parents=True, exist_ok=True)
    config.PARAMS_CHECK.write_text(
        json.dumps({"checked": list(SECTIONS), "problems": 0}, indent=2) + "\n"
    )
    log.info("%s: every value the stages read is valid", config.FILES.params)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
