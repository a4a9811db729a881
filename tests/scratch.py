"""Working in a scratch clone of this repository: the environment its commands run
in, and edits to its params.yaml.

One implementation for everything that drives a clone: the test fixtures
(`conftest.env_for`), `tests/workflows/actrun.py` and the benchmark
(`benchmarks/clones.py`). It lives with the tests, which own the other clone
helpers (`conftest.clone`, `actrun.pull_request_clone`); the benchmark puts this
folder on its import path to use it, so that the tests never reach into
`benchmarks/` for their own fixtures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

PARAMS = "params.yaml"


#: make's own variables, and the virtualenv an outer make was given: a `make` run
#: in a clone must see none of them, or it runs as a sub-make of this run's (and
#: prints `make[1]:` where a user sees `make:`) with this run's VENV.
MAKE_VARS = frozenset({"MAKELEVEL", "MAKEFLAGS", "MFLAGS", "MAKEOVERRIDES", "VENV"})


def outside_make() -> dict[str, str]:
    """This process's environment without make's variables (`MAKE_VARS`)."""
    return {k: v for k, v in os.environ.items() if k not in MAKE_VARS}


def tool_env(venv: Path, repo: Path | None = None) -> dict[str, str]:
    """This process's environment, set to run `venv`'s tools on a clone.

    `venv/bin` comes first on PATH. make's variables are dropped (`outside_make`),
    and so is CHURN_ROOT, since a clone is its own root; so is PYTHONPATH, unless
    `repo` is given: then it names `repo/src`, so that `python -m churn.*` runs the
    clone's code, not this checkout's.
    """
    env = outside_make()
    env.pop("CHURN_ROOT", None)
    env.pop("PYTHONPATH", None)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    if repo is not None:
        env["PYTHONPATH"] = str(repo / "src")
    return env


def set_param(params: dict[str, Any], key: str, value: Any) -> None:
    """Set the dotted `key` of nested `params` to `value`, in place.

    The key must exist already: a misspelt one would otherwise add a parameter
    that no stage reads, and the run would silently use the old value.
    """
    *parents, last = key.split(".")
    node: Any = params
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or last not in node:
        raise KeyError(f"{PARAMS} has no {key!r}")
    node[last] = value


@contextmanager
def params_of(repo: Path) -> Iterator[dict[str, Any]]:
    """The clone's parsed params.yaml, written back when the block ends cleanly."""
    path = repo / PARAMS
    params = yaml.safe_load(path.read_text())
    yield params
    path.write_text(yaml.safe_dump(params, sort_keys=False))


def set_params(repo: Path, values: Mapping[str, Any]) -> None:
    """Set each dotted key of `values` in the clone's params.yaml."""
    with params_of(repo) as params:
        for key, value in values.items():
            set_param(params, key, value)
