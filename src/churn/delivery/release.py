"""Release planning and the release floor: what version ships, and whether it may.

A released model is a git tag `churn-model@vX.Y.Z`, the form GTO reads. The release
workflow runs `churn package --release-plan`, which prints

    version=1.3.0  tag=churn-model@v1.3.0  inputs=<hex>  sha256=<hex>  changed=true

one per line: the next version from the tags, the model's identity
(`churn.lineage.identity`), the model file's SHA-256, and whether those inputs differ
from the ones the latest tag's message records (`model inputs <hex>`).

The floor is the pull-request gate's `gate.floor`: one bar for what may merge and
what may ship. It fails closed: a metric that is missing, not a number, NaN,
infinite or outside its range is "cannot judge", never released.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

from churn import config, lineage, model_io
from churn.review import gate

log = logging.getLogger(__name__)

NAME = "churn-model"
#: How a release tag's message names the inputs its model was built from.
INPUTS_LINE = "model inputs"
#: Values a metric can take; those not listed are in [0, 1].
RANGES = {"log_loss": (0.0, math.inf)}

_VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?$")
_TAG = re.compile(rf"^{NAME}@v(\d+)\.(\d+)\.(\d+)$")


class ReleaseError(ValueError):
    """A release that cannot be planned or must not ship, and why."""


class BelowFloorError(ReleaseError):
    """Metrics below the absolute floor a released model must meet."""


class CannotJudgeError(ReleaseError):
    """Metrics from which the floor cannot be judged: missing, NaN, out of range."""


# --- versions and tags ------------------------------------------------------------


def tag_for(version: str) -> str:
    """The git tag of a model version, in GTO's `name@vX.Y.Z` form."""
    return f"{NAME}@v{version}"


def check_version(version: str) -> str:
    """`version` if it is semantic (1.2.0, 1.2.0-rc.1), else a `ReleaseError`."""
    if not isinstance(version, str) or not _VERSION.match(version):
        raise ReleaseError(f"version {version!r} is not semantic (e.g. 1.2.0)")
    return version


def next_version(tags: list[str], bump: str = "minor") -> str:
    """The version after the highest `churn-model@vX.Y.Z` tag in `tags`.

    Other tags are ignored. The first release is 1.0.0, whatever the bump.
    """
    found = [tuple(int(x) for x in m.groups()) for t in tags if (m := _TAG.match(t))]
    if not found:
        return "1.0.0"
    major, minor, patch = max(found)
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    if bump == "patch":
        return f"{major}.{minor}.{patch + 1}"
    raise ValueError(f"unknown bump {bump!r}; choose major, minor or patch")


def latest_tag(tags: list[str]) -> str | None:
    """The highest `churn-model@vX.Y.Z` tag in `tags`, if any."""
    found = [
        (tuple(int(x) for x in m.groups()), t) for t in tags if (m := _TAG.match(t))
    ]
    return max(found)[1] if found else None


def release_plan(
    tags: dict[str, str], inputs: str, sha256: str, bump: str
) -> dict[str, str]:
    """What the release workflow does next, from the tags and their messages.

    The workflow writes a `model inputs <hex>` line (the model's identity,
    `churn.lineage.identity`) into each tag's message. `changed` is "false" when the
    latest release was built from the same inputs: a merge that changed only docs or
    tests has nothing new to release, even where the runner's CPU wrote other model
    bytes for the same data, params and code. `sha256` is the file's, for the tag.
    """
    latest = latest_tag(list(tags))
    released = re.search(
        rf"^{INPUTS_LINE} ([0-9a-f]{{64}})$", tags.get(latest or "", ""), re.M
    )
    version = next_version(list(tags), bump)
    return {
        "version": version,
        "tag": tag_for(version),
        "inputs": inputs,
        "sha256": sha256,
        "changed": "false" if released and released.group(1) == inputs else "true",
    }


def plan_checkout(bump: str) -> dict[str, str]:
    """The release plan for this checkout: its tags, `dvc.lock` and model file."""
    if not config.MODEL_FILE.is_file():
        raise ReleaseError(f"{config.MODEL_FILE}: no model; run `make repro` first")
    try:
        inputs = lineage.identity(lineage.read_lock(config.LOCK_FILE))
    except lineage.LineageError as exc:
        raise ReleaseError(f"cannot plan the release: {exc}") from exc
    names = (lineage.git("tag", "--list", f"{NAME}@v*") or "").split()
    tags = {
        t: lineage.git("tag", "--list", "--format=%(contents)", t) or "" for t in names
    }
    return release_plan(tags, inputs, model_io.sha256(config.MODEL_FILE), bump)


def plan_lines(plan: dict[str, str]) -> str:
    """The plan as the `key=value` lines the workflow appends to `$GITHUB_OUTPUT`."""
    return "".join(f"{k}={v}\n" for k, v in plan.items())


# --- the release floor ------------------------------------------------------------


def unjudgeable(name: str, value: Any) -> str | None:
    """Why `value` is no usable reading of metric `name`, or None if it is one."""
    if value is None:
        return f"{name} is missing from the metrics"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name} is {value!r}, not a number"
    low, high = RANGES.get(name, (0.0, 1.0))
    if not math.isfinite(value) or not low <= value <= high:
        return f"{name} is {value}, not a finite number in [{low:g}, {high:g}]"
    return None


def floor_failure(metrics: Any, rules: gate.Rules) -> str | None:
    """Why `metrics` do not clear the gate's absolute floor, or None if they do.

    A reason that starts with "cannot judge" means the metric itself is unusable.
    """
    if metrics is None:
        return "cannot judge the floor: there are no metrics"
    if not isinstance(metrics, dict):
        return f"cannot judge the floor: the metrics are {type(metrics).__name__}"
    problem = unjudgeable(rules.metric, metrics.get(rules.metric))
    if problem:
        return f"cannot judge the floor: {problem}"
    value = metrics[rules.metric]
    if rules.below_floor(value):
        side = "below" if rules.higher_is_better else "above"
        return f"{rules.metric} {value} is {side} the floor {rules.floor}"
    return None


def check_floor(metrics: Any, params: dict[str, Any]) -> None:
    """Raise unless `metrics` clear the floor set in `params` (`gate.floor`).

    `BelowFloorError` for a model below it, `CannotJudgeError` for metrics that
    cannot be compared with it. A model the gate let through is never refused here.
    """
    try:
        rules = gate.Rules.from_params(params)
    except (KeyError, ValueError) as exc:
        raise CannotJudgeError(
            f"cannot judge the floor: {exc.args[0]}: no model is released"
        ) from exc
    failure = floor_failure(metrics, rules)
    if failure is None:
        return
    kind = CannotJudgeError if failure.startswith("cannot judge") else BelowFloorError
    raise kind(f"{failure} (gate.floor in params.yaml): no such model is released")
