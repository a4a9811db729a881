"""The committed plot templates: reference lines, sorted bars, titles in words.

`dvc plots show --json` fills .dvc/plots/*.json with this checkout's plot data, as
`dvc plots`, the report's PNGs and `make plots` all do; each spec must render.
"""

import json

import pytest
import yaml

from churn import config
from churn.review import page, plots
from conftest import ROOT, run


@pytest.fixture(scope="module")
def specs() -> dict[str, dict]:
    shown = json.loads(run(["dvc", "plots", "show", "--json"], ROOT).stdout)
    return dict(page.specs(shown))


def _layer(spec: dict, mark: str) -> dict:
    (found,) = [layer for layer in spec["layer"] if layer["mark"]["type"] == mark]
    return found


def _titles(node, axis: str):
    """Every axis title that an `encoding` anywhere in a spec gives `axis`."""
    if isinstance(node, dict):
        channel = node.get("encoding", {}).get(axis)
        if isinstance(channel, dict) and "title" in channel:
            yield channel["title"]
        for value in node.values():
            yield from _titles(value, axis)
    elif isinstance(node, list):
        for value in node:
            yield from _titles(value, axis)


def test_every_plot_renders_with_titles_in_words(specs) -> None:
    assert len(specs) == len(yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"])
    raw = {"fpr", "tpr", "psi", "importance", "predicted", "observed"}
    for title, spec in specs.items():
        assert plots.render_png(spec)[:4] == b"\x89PNG", title
        text = json.dumps(spec)
        for axis in ("x", "y"):
            titles = set(_titles(spec, axis))
            assert titles and not raw & titles, (title, axis, titles)
        assert "<DVC_METRIC_" not in text, title


@pytest.mark.parametrize("title", ["ROC curve", "Calibration"])
def test_curves_carry_the_diagonal(specs, title) -> None:
    rule = _layer(specs[title], "rule")["encoding"]
    assert [rule[k]["datum"] for k in ("x", "y", "x2", "y2")] == [0, 0, 1, 1]


@pytest.mark.parametrize(
    "title",
    [
        "Drift of the newest month (PSI per feature)",
        "Permutation importance (drop in ROC AUC)",
    ],
)
def test_bars_are_horizontal_and_largest_first(specs, title) -> None:
    bars = _layer(specs[title], "bar")["encoding"]
    assert bars["x"]["type"] == "quantitative" and bars["y"]["type"] == "nominal"
    assert bars["y"]["sort"] == "-x"


def test_drift_marks_the_psi_limit_from_params(specs) -> None:
    spec = specs["Drift of the newest month (PSI per feature)"]
    rule = _layer(spec, "rule")
    assert rule["transform"][0]["aggregate"][0]["field"] == "threshold"
    limit = config.load_params()["drift"]["psi_threshold"]
    assert {row["threshold"] for row in spec["data"]["values"]} == {limit}
