"""The package's shape: rooms by concern, imports that only go down, complete deps.

Two rules are checked over the source itself (`ast`, nothing is imported):

- a lower layer never imports a higher one: the ground floor (config, contract,
  model I/O, stats, split, lineage) < `data` < `pipeline` < `review` <
  `delivery` < the CLI;
- every stage in `dvc.yaml` depends on every file of the package its command
  imports, directly or through others, so that editing any of them reruns it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

SRC = ROOT / "src"
PACKAGE = "churn"
#: Layer of each room; modules directly in `churn/` are the ground floor (0).
LAYERS = {"data": 1, "pipeline": 2, "review": 3, "delivery": 4}
TOP = {"cli", "__main__"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_file(name: str) -> Path | None:
    base = SRC.joinpath(*name.split("."))
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def imports_of(path: Path) -> set[str]:
    """The package's modules that `path` imports, at any depth of its code."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", "") == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            found.add(str(node.args[0].value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # `module:function` targets in the CLI's command table.
            match = re.fullmatch(rf"({PACKAGE}(?:\.\w+)+)(?::\w+)?", node.value)
            if match:
                found.add(match.group(1))
    return {m for m in found if module_file(m) is not None}


def closure(module: str) -> set[Path]:
    """Every package file that running `module` may execute."""
    seen: set[Path] = set()
    todo = [module]
    while todo:
        parts = todo.pop().split(".")
        for i in range(1, len(parts) + 1):
            path = module_file(".".join(parts[:i]))
            if path is not None and path not in seen:
                seen.add(path)
                todo += imports_of(path)
    return seen


def has_code(path: Path) -> bool:
    """False for a package marker that holds nothing but its docstring."""
    body = ast.parse(path.read_text()).body
    return not all(
        isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body
    )


def command_module(cmd: str) -> str | None:
    match = re.search(r"python\S*\s+-m\s+([\w.]+)", cmd)
    return match.group(1) if match else None


def runs(stage: dict) -> set[str]:
    """The package files with code that a stage's commands may execute."""
    cmds = stage["cmd"] if isinstance(stage["cmd"], list) else [stage["cmd"]]
    files: set[Path] = set()
    for cmd in cmds:
        module = command_module(cmd)
        assert module, f"{cmd!r}: run stages as `python -m churn.<room>.<stage>`"
        files |= closure(module)
    return {p.relative_to(ROOT).as_posix() for p in files if has_code(p)}


def code_deps(stage: dict) -> list[str]:
    return [
        str(d).rstrip("/") for d in stage.get("deps", []) if str(d).startswith("src/")
    ]


def uncovered(stage: dict) -> list[str]:
    """Package files a stage's commands run that none of its deps covers."""
    deps = code_deps(stage)
    return sorted(
        rel
        for rel in runs(stage)
        if not any(rel == d or rel.startswith(d + "/") for d in deps)
    )


def unused(stage: dict) -> list[str]:
    """Code deps of a stage that cover nothing its commands run."""
    ran = runs(stage)
    return [
        d
        for d in code_deps(stage)
        if not any(r == d or r.startswith(d + "/") for r in ran)
    ]


def layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in TOP:
        return 9 if len(parts) > 1 else 0
    return LAYERS.get(parts[1], 0)


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", sorted(STAGES))
def test_each_stage_depends_on_all_the_code_it_runs(name: str) -> None:
    assert uncovered(STAGES[name]) == []
    # And on nothing else of the package, so that an edit reruns only its users.
    assert unused(STAGES[name]) == []


def test_a_missing_dep_is_found() -> None:
    stage = {
        "cmd": "python -m churn.pipeline.train",
        "deps": ["src/churn/pipeline/train.py", "src/churn/model_io.py"],
    }
    missing = uncovered(stage)
    assert "src/churn/contract.py" in missing and "src/churn/config.py" in missing
    assert "src/churn/pipeline/train.py" not in missing
    # A folder covers what is under it.
    assert uncovered({**stage, "deps": ["src/churn"]}) == []
    extra = {**stage, "deps": ["src/churn", "src/churn/delivery/serve.py"]}
    assert unused(extra) == ["src/churn/delivery/serve.py"]


def test_the_closure_follows_imports_inside_functions() -> None:
    validate = {p.name for p in closure("churn.data.validate")}
    assert "gx_rules.py" in validate, "imported inside a function"


def test_imports_only_go_down() -> None:
    upward = []
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        here = module_name(path)
        for target in imports_of(path):
            if layer(target) > layer(here):
                upward.append(f"{here} ({layer(here)}) imports {target}")
    assert upward == []


def test_every_room_is_a_known_layer() -> None:
    rooms = {p.name for p in (SRC / PACKAGE).iterdir() if (p / "__init__.py").is_file()}
    assert rooms == set(LAYERS)
    assert layer("churn.delivery.serve") > layer("churn.review.gate") > 0
    assert layer("churn.config") == 0 and layer("churn.cli") > 4


def test_every_output_dvc_yaml_declares_is_named_in_the_catalogue() -> None:
    # dvc.yaml names the outputs for DVC, config.FILES for the code: they agree.
    from churn import config

    named = set(vars(config.FILES).values())
    for name, stage in STAGES.items():
        for out in stage.get("outs", []):
            path = next(iter(out)) if isinstance(out, dict) else out
            folder = path.rpartition("/")[0]
            assert path in named or folder == config.FILES.plots, (name, path)
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    for plot in plots:
        for spec in plot.values():
            for path in spec["y"]:
                assert path.startswith(config.FILES.plots + "/"), path
