"""Serving needs the package's own dependencies only, none of its extras.

`pip install .` is meant to be enough to load a model package, score customers with
`churn predict --package` and serve them with `churn serve --package`. Each check runs
in a Python whose import system refuses every installed module that the core
dependencies of pyproject.toml do not bring in (DVC, Great Expectations, vl-convert,
pyarrow, MLflow, the dev tools), as if they were not installed.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from churn.delivery import package, smoke
from conftest import PROBABILITY, ROOT
from delivery_helpers import bundled, fitted, reference_proba

#: What the extras bring and serving must never import.
EXTRAS_ONLY = {"dvc", "great_expectations", "vl_convert", "pyarrow"}

SITECUSTOMIZE = '''\
import importlib.abc
import sys

REFUSED = frozenset({names!r})


class Uninstalled(importlib.abc.MetaPathFinder):
    """Imports of the modules the core dependencies do not install fail."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in REFUSED:
            message = f"No module named {{name!r}} (not core)"
            raise ModuleNotFoundError(message, name=name)
        return None


sys.meta_path.insert(0, Uninstalled())
'''


def requirement_closure(roots: Iterable[str]) -> set[str]:
    """Canonical names of the installed distributions that `roots` pull in."""
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [Requirement(r) for r in roots]
    names: set[str] = set()
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        names.add(key[0])
        for line in importlib.metadata.distribution(req.name).requires or []:
            dep = Requirement(line)
            wanted = req.extras | {""}
            if dep.marker is None or any(
                dep.marker.evaluate({"extra": e}) for e in wanted
            ):
                todo.append(dep)
    return names


def refused_modules() -> set[str]:
    """Top-level modules installed here by no distribution the core needs."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    core = requirement_closure(data["project"]["dependencies"]) | {"churn"}
    return {
        module
        for module, dists in importlib.metadata.packages_distributions().items()
        if not any(canonicalize_name(d) in core for d in dists)
    }


@pytest.fixture(scope="module")
def core_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of a Python that can import only what the core installs."""
    folder = tmp_path_factory.mktemp("core-only")
    (folder / "sitecustomize.py").write_text(
        SITECUSTOMIZE.format(names=sorted(refused_modules()))
    )
    path = os.pathsep.join([str(folder), str(ROOT / "src")])
    return {**os.environ, "PYTHONPATH": path}


def _python(env: dict[str, str], *args: str, cwd: Path = ROOT):
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_extras_are_not_core() -> None:
    refused = refused_modules()
    assert refused >= EXTRAS_ONLY | {"pytest", "jupytext", "nbclient"}
    assert not refused & {"fastapi", "uvicorn", "httptools", "pandas", "sklearn"}


def test_the_core_only_python_refuses_the_extras_and_the_pipeline(core_env) -> None:
    for module in [*sorted(EXTRAS_ONLY), "churn.data.gx_rules"]:
        proc = _python(core_env, "-c", f"import {module}")
        assert proc.returncode == 1, module
        assert "ModuleNotFoundError" in proc.stderr and "(not core)" in proc.stderr


def test_loading_a_package_imports_no_extra(core_env, built_archive: Path) -> None:
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from churn import cli\n"
        "from churn.delivery import package, scorer, serve\n"
        f"pkg = package.load(Path({str(built_archive)!r}))\n"
        "serve.create_app(pkg)\n"
        "rows = pkg.read_json(package.EXAMPLES)['request']['customers']\n"
        "proba = scorer.from_model(pkg.model).proba(rows)\n"
        "loaded = sorted({m.partition('.')[0] for m in sys.modules})\n"
        "print(json.dumps({'proba': [float(p) for p in proba], 'loaded': loaded}))\n"
    )
    proc = _python(core_env, "-c", code)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert not set(out["loaded"]) & EXTRAS_ONLY
    recorded = package.load(built_archive).read_json(package.EXAMPLES)[
        "churn_probability"
    ]
    assert out["proba"] == pytest.approx(recorded, abs=PROBABILITY)


def test_churn_predict_scores_a_csv(
    core_env, built_archive: Path, tmp_path: Path
) -> None:
    table = bundled().head(40)
    table.to_csv(tmp_path / "customers.csv", index=False)
    proc = _python(
        core_env,
        "-m",
        "churn",
        "predict",
        "--input",
        str(tmp_path / "customers.csv"),
        "--output",
        str(tmp_path / "scored.csv"),
        "--package",
        str(built_archive),
    )
    assert proc.returncode == 0, proc.stderr
    scored = pd.read_csv(tmp_path / "scored.csv")
    np.testing.assert_allclose(
        scored["churn_probability"],
        reference_proba(fitted(), table),
        rtol=0,
        atol=PROBABILITY,
    )


def test_churn_serve_answers_over_http(core_env, built_archive: Path) -> None:
    with smoke.running(
        built_archive, env=core_env, extra_args=("--no-access-log",)
    ) as svc:
        assert smoke.check(svc.url, package.load(built_archive)) == []
    assert "(not core)" not in "\n".join(svc.log_lines)
