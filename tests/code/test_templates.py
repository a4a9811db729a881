"""The files people expect in a project they fork, and that they tell the truth."""

from __future__ import annotations

import tomllib
from pathlib import Path

import yaml

from conftest import ROOT, VENV, make

WORKFLOWS = sorted(p.name for p in (ROOT / ".github" / "workflows").glob("*.yml"))


def test_the_licence_is_the_one_pyproject_names() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_the_readme_has_a_status_badge_per_workflow() -> None:
    readme = (ROOT / "README.md").read_text()
    for name in WORKFLOWS:
        badge = f"(../../actions/workflows/{name}/badge.svg)"
        assert badge in readme, f"no badge for {name}"


def test_pre_commit_runs_the_projects_own_linters_offline() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert [repo["repo"] for repo in config["repos"]] == ["local"], "no downloads"
    entries = {hook["entry"].split()[0] for hook in hooks}
    for entry in entries:
        assert entry.startswith(".venv/bin/"), entry
        assert (VENV / "bin" / Path(entry).name).is_file(), f"{entry} is not installed"
    names = {Path(e).name for e in entries}
    assert {"ruff", "actionlint", "zizmor", "python"} <= names
    lock = next(hook for hook in hooks if hook["id"] == "lock")
    checker = lock["entry"].split()[-1]
    assert (ROOT / checker).is_file(), checker
    assert "requirements/" in lock["files"] and "pyproject" in lock["files"]


def test_make_lint_is_clean() -> None:
    # The check CONTRIBUTING.md asks for before a pull request.
    proc = make("lint", ROOT)
    assert "All checks passed!" in proc.stdout


def test_templates_say_what_the_bot_posts() -> None:
    pr = (ROOT / ".github" / "pull_request_template.md").read_text()
    assert "make test" in pr and "report" in pr
    bug = (ROOT / ".github" / "ISSUE_TEMPLATE" / "bug_report.md").read_text()
    assert bug.startswith("---\nname: ")
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    for words in ("make repro", "make test", "make lint", "pre-commit install"):
        assert words in contributing, words
