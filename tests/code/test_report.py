"""The pull-request report and the gate on fixed metric files in a small DVC repo:
improved, unchanged, regressed, and the first model, when `main` has none; the
verdict the report writes is the one the gate takes."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from churn import stats
from churn.review import evidence, gate, plots, report, sections
from conftest import ROOT

PNG = b"\x89PNG\r\n\x1a\n"
N = 400

DVC_YAML = {
    "metrics": ["metrics/metrics.json"],
    "plots": [
        {
            "ROC curve": {
                "template": "simple",
                "x": "fpr",
                "y": {"plots/roc.json": "tpr"},
            }
        }
    ],
}


def _params(c: float) -> dict:
    return {
        "seed": 42,
        "train": {"C": c},
        "evaluate": {"threshold": 0.5},
        "gate": {
            "metric": "roc_auc",
            "tolerance": 0.005,
            "floor": 0.6,
            "resamples": 200,
        },
    }


def _scores(noise: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, N)
    raw = 1 / (1 + np.exp(-(2 * y - 1) - rng.normal(0, noise, N)))
    return y, np.round(raw, 6)


def _write_outputs(repo: Path, noise: float) -> None:
    """metrics.json, predictions.csv, slices.json and a ROC plot for one model."""
    y, score = _scores(noise)
    (repo / "metrics").mkdir(exist_ok=True)
    (repo / "plots").mkdir(exist_ok=True)
    values = stats.metric_values(y, score, threshold=0.5)
    metrics = {k: round(v, 6) for k, v in values.items()}
    (repo / "metrics" / "metrics.json").write_text(json.dumps(metrics))
    (repo / "metrics" / "validation.json").write_text(
        json.dumps({"success": True, "rows": N, "expectations": 68, "failed": 0})
    )
    pd.DataFrame(
        {"customer_id": np.arange(1, N + 1), "label": y, "score": score}
    ).to_csv(repo / "metrics" / "predictions.csv", index=False)
    (repo / "metrics" / "slices.json").write_text(
        json.dumps(
            {"contract": {"Two year": {"rows": N, "roc_auc": metrics["roc_auc"]}}}
        )
    )
    # The rows' slice columns, as the prepared test split holds them.
    (repo / "data" / "prepared").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "customer_id": np.arange(1, N + 1),
            "contract": "Two year",
            "internet_service": "DSL",
            "senior_citizen": 0.0,
            "tenure": 30.0,
        }
    ).to_parquet(repo / "data" / "prepared" / "test.parquet")
    fpr = np.linspace(0, 1, 11)
    roc = [{"fpr": f, "tpr": min(1.0, f ** (1 / (1 + 1 / noise)))} for f in fpr]
    (repo / "plots" / "roc.json").write_text(json.dumps(roc))


def _sh(repo: Path, *cmd: str) -> None:
    subprocess.run(cmd, cwd=repo, check=True, capture_output=True)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A git + DVC repository with a `main` whose model has noise 1.0."""
    path = tmp_path / "repo"
    path.mkdir()
    _sh(path, "git", "init", "-q", "-b", "main")
    _sh(path, "git", "config", "user.email", "test@example.com")
    _sh(path, "git", "config", "user.name", "test")
    _sh(path, sys.executable, "-m", "dvc", "init", "-q")
    (path / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    (path / "params.yaml").write_text(yaml.safe_dump(_params(1.0)))
    _write_outputs(path, noise=1.0)
    (path / ".gitignore").write_text("/data/\n/report*\n")
    _sh(path, "git", "add", "-A")
    _sh(path, "git", "commit", "-qm", "main")
    return path


def _pr(repo: Path, noise: float, c: float, *, first_model: bool = False) -> str:
    """Make the workspace a PR whose model has `noise` and `train.C` = `c`;
    write its report; return the report's text."""
    _write_outputs(repo, noise)
    (repo / "params.yaml").write_text(yaml.safe_dump(_params(c)))
    return _build(repo, first_model=first_model)


def _build(repo: Path, *, first_model: bool = False) -> str:
    """Write the report of the workspace as it is; return its text."""
    out = repo / "report.md"
    report.build("main", out, root=repo, first_model=first_model)
    return out.read_text()


def _verdict(repo: Path) -> gate.Verdict:
    found = evidence.gather("main", root=repo)
    return gate.judge(found, gate.intervals(found))


def _assert_plots(repo: Path, text: str) -> None:
    link = "report-plots/roc-curve.png"
    assert f"![ROC curve]({link})" in text
    assert (repo / link).read_bytes().startswith(PNG)


def test_improved(repo: Path) -> None:
    text = _pr(repo, noise=0.4, c=0.5)
    assert "**Quality gate: ✅ pass** (rule `tolerance`)" in text
    assert "| metric | main | PR | change | 95% CI of change | |" in text
    assert "| roc_auc ↑ |" in text and "significant (better)" in text
    assert "| `train.C` | `1.0` | `0.5` |" in text
    _assert_plots(repo, text)


def test_unchanged(repo: Path) -> None:
    text = _pr(repo, noise=1.0, c=1.0)
    assert "(rule `tolerance`)" in text and "did not get worse" in text
    assert "No parameter changed." in text
    assert "[+0.0000, +0.0000] | within noise |" in text
    assert "significant" not in text.split("### Metrics")[1].split("###")[0]


def test_regressed(repo: Path) -> None:
    text = _pr(repo, noise=3.0, c=100.0)
    assert "**Quality gate: ❌ fail** (rule `regression`)" in text
    assert "significant (worse)" in text
    assert "❌ Slices significantly worse on `roc_auc`: **contract=Two year**" in text
    _assert_plots(repo, text)
    verdict = _verdict(repo)
    assert (verdict.status, verdict.rule) == ("fail", "regression")


def test_the_first_model_passes_on_the_floor_only_when_asked(repo: Path) -> None:
    _sh(repo, "git", "rm", "-q", "-r", "metrics", "plots")
    _sh(repo, "git", "commit", "-qm", "main without a model yet")
    text = _pr(repo, noise=1.0, c=1.0)
    assert "**Quality gate: ⛔ cannot judge** (rule `cannot judge`)" in text
    assert "main has no metrics/metrics.json to compare with" in text
    text = _pr(repo, noise=1.0, c=1.0, first_model=True)
    assert "**Quality gate: ✅ pass** (rule `first model`)" in text
    assert "| roc_auc ↑ | – |" in text  # no main column value, but a PR value
    assert "over the 0 test customers" in text
    _assert_plots(repo, text)


def test_sections_for_validation_and_drift(repo: Path) -> None:
    text = _pr(repo, noise=1.0, c=1.0)
    assert "✅ all 68 expectations passed on 400 rows." in text
    assert "_No drift report (`metrics/drift.json` does not exist)._" in text
    (repo / "metrics" / "validation.json").unlink()
    text = _build(repo)
    assert "(rule `cannot judge`)" in text and "validation.json is missing" in text
    assert "_No validation result" in text
    (repo / "metrics" / "validation.json").write_text(
        json.dumps({"success": False, "rows": 10, "expectations": 68, "failed": 1})
    )
    (repo / "metrics" / "drift.json").write_text(
        json.dumps(
            {
                "month": 3,
                "verdict": "drift",
                "drifted_features": ["tenure"],
            }
        )
    )
    text = _build(repo)
    assert "Drift verdict for month 3: **drift**; drifted features: tenure." in text
    assert "Largest population stability index" not in text
    (repo / "plots" / "drift.json").write_text(
        json.dumps(
            [
                {"feature": "female", "psi": 0.01, "test": "chi2", "p_value": 0.5},
                {
                    "feature": "tenure",
                    "psi": 0.4,
                    "test": "ks",
                    "p_value": 0.001,
                    "drift": True,
                },
            ]
        )
    )
    text = _build(repo)
    assert "❌ 1 of 68 expectations failed on 10 rows" in text
    assert "(rule `validation`)" in text
    assert "these are the metrics of the last good model" in text
    assert "Drift verdict for month 3: **drift**; drifted features: tenure." in text
    assert "| tenure | 0.4000 | ks | 0.0010 | yes |" in text
    assert text.index("| tenure |") < text.index("| female | 0.0100 | chi2")


def test_validation_failures_are_tabled() -> None:
    summary = {"success": False, "rows": 5, "expectations": 68, "failed": 1}
    result = {
        "summary": {
            "failures": [
                {
                    "expectation": "expect_column_values_to_be_in_set",
                    "column": "contract",
                    "unexpected_count": 2,
                    "examples": ["Weekly"],
                }
            ]
        }
    }
    text = sections.validation_section(summary, result)
    assert "| `expect_column_values_to_be_in_set` | contract | 2 | `'Weekly'` |" in text
    assert "all 68" in sections.validation_section({**summary, "success": True}, None)


def test_a_batch_the_suite_could_not_judge_says_so() -> None:
    summary = {"success": None, "rows": 60, "expectations": 0, "failed": 0}
    why = "the suite 'churn_batch' holds 0 expectations where ... has 70"
    result = {"summary": {"failures": [{"column": "(suite)", "why": why}]}}
    text = sections.validation_section(summary, result)
    assert text.startswith("⚠️ The data could not be validated;")
    assert why in text and "❌" not in text and "✅" not in text


def test_plot_specs_are_relabelled() -> None:
    spec = {
        "data": {"values": [{"rev": "workspace"}, {"rev": "origin/main"}]},
        "params": [{"name": "showValues", "bind": {"input": "checkbox"}}],
    }
    out = plots.relabel(spec, {"workspace": "PR", "origin/main": "main"})
    assert [v["rev"] for v in out["data"]["values"]] == ["PR", "main"]
    assert out["params"][0]["value"] is True
    assert spec["data"]["values"][0]["rev"] == "workspace", "the input is unchanged"
    assert plots.slug("Permutation importance (drop in ROC AUC)") == (
        "permutation-importance-drop-in-roc-auc"
    )


def _headings(text: str) -> list[str]:
    return re.findall(r"^#+ .*$", text, re.M)


def test_the_level2_example_is_shaped_as_a_report_is_now(repo: Path) -> None:
    # Names and structure only: its numbers are the run that `make doc-images`
    # made, and floats differ across machines.
    example = (ROOT / "levels" / "2-cicd-automation" / "example-report.md").read_text()
    text = _pr(repo, noise=0.4, c=0.5)
    assert _headings(example) == _headings(text)
    intro = re.compile(
        r"This pull request's model against `main` at `[0-9a-f]{7,}`\. Intervals: "
        r"95% paired bootstrap over the \d+ test customers both models scored "
        r"\(\d+ resamples, seed \d+\)\.$",
        re.M,
    )
    assert intro.search(example) and intro.search(text)
    titles = [
        next(iter(plot))
        for plot in yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    ]
    wanted = [(t, f"report-plots/{plots.slug(t)}.png") for t in titles]
    assert re.findall(r"!\[([^\]]*)\]\(([^)]+)\)", example) == wanted
    assert "| `train.logistic_regression.C` | `1.0` | `0.3` |" in example
