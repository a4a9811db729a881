"""The committed plot templates: reference lines, sorted bars, titles in words, and
curves told apart by their dashes.

`dvc plots show --json` fills .dvc/plots/*.json with this checkout's plot data, as
`dvc plots`, the report's PNGs and `make plots` all do; each spec must render.
`dvc plots diff HEAD --json` draws the committed curves and the workspace's
together, as the report does for main and a pull request. A curve that evaluate
reduced to a few hundred vertices draws the same line as the whole curve.
"""

import copy
import json

import numpy as np
import pytest
import yaml
from scipy import ndimage
from test_evaluate import scored

import pngs
from churn import config
from churn.pipeline.plots import CURVE_POINTS, pr_points, roc_points
from churn.review import page, plots
from conftest import ROOT, run

CURVES = ["ROC curve", "Precision-recall curve", "Calibration"]
#: The first two colours DVC gives revisions (dvc_render's colour range).
COLOURS = {"PR": (0x94, 0x5D, 0xD6), "main": (0x13, 0xAD, 0xC7)}


@pytest.fixture(scope="module")
def specs() -> dict[str, dict]:
    shown = json.loads(run(["dvc", "plots", "show", "--json"], ROOT).stdout)
    return dict(page.specs(shown))


@pytest.fixture(scope="module")
def diffed() -> dict[str, dict]:
    """The workspace's curves and HEAD's, relabelled as the report does."""
    shown = json.loads(run(["dvc", "plots", "diff", "HEAD", "--json"], ROOT).stdout)
    names = {"workspace": "PR", "HEAD": "main"}
    return {title: plots.relabel(spec, names) for title, spec in page.specs(shown)}


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
    layer = _layer(specs[title], "rule")
    rule = layer["encoding"]
    assert [rule[k]["datum"] for k in ("x", "y", "x2", "y2")] == [0, 0, 1, 1]
    # Drawn once, from a row of its own: on the curve's data it would be drawn
    # once per point (hundreds of dashed lines stacked, and slow to render).
    assert layer["data"] == {"values": [{}]}


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


@pytest.mark.parametrize("title", CURVES)
def test_each_revision_has_its_own_dash_the_first_solid(specs, diffed, title) -> None:
    dash = _layer(specs[title], "line")["encoding"]["strokeDash"]
    assert dash["field"] == "rev"
    solid, *others = dash["scale"]["range"]
    assert solid == [1, 0] and others and solid not in others
    assert len({tuple(d) for d in dash["scale"]["range"]}) == len(
        dash["scale"]["range"]
    )
    # One revision on the page: the colour's legend alone names it.
    assert dash["legend"] is None
    # Two in the report: the dash joins the colour's legend, in the colour's order.
    line = _layer(diffed[title], "line")["encoding"]
    assert "legend" not in line["strokeDash"]
    assert line["strokeDash"]["scale"]["domain"] == ["PR", "main"]
    assert line["color"]["scale"]["domain"] == ["PR", "main"]
    assert line["color"]["title"] == plots.LEGEND_TITLE


def test_the_reports_legends_name_models_not_revs(diffed) -> None:
    colours = [
        layer["encoding"]["color"]
        for spec in diffed.values()
        for layer in spec.get("layer", [spec])
        if isinstance(layer.get("encoding", {}).get("color"), dict)
        and layer["encoding"]["color"].get("field") == "rev"
    ]
    assert len(colours) >= 5  # three curves, two bar charts
    assert {c.get("title") for c in colours} == {plots.LEGEND_TITLE}


def _ink(png: bytes, rgb: tuple[int, int, int]) -> np.ndarray:
    """Where `png` is within a shade of `rgb`: one boolean per pixel."""
    rows = pngs.pixels(png)
    image = np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(len(rows), -1, 3)
    return (np.abs(image.astype(int) - rgb) <= 24).all(axis=2)


def _inked(png: bytes, rgb: tuple[int, int, int]) -> int:
    """Pixels of `png` within a shade of `rgb`."""
    return int(_ink(png, rgb).sum())


def test_two_curves_that_overlap_both_show(diffed) -> None:
    # The workspace's ROC curve is the committed one: the two lines coincide, so
    # without dashes the one drawn last would hide the other completely.
    spec = copy.deepcopy(diffed["ROC curve"])
    line = _layer(spec, "line")["encoding"]
    line["color"]["legend"] = None  # count the lines' ink, not the legend's
    png = plots.render_png(spec)
    inked = {name: _inked(png, rgb) for name, rgb in COLOURS.items()}
    assert min(inked.values()) > 0.1 * sum(inked.values()), inked
    del line["strokeDash"]
    hidden = {
        name: _inked(plots.render_png(spec), rgb) for name, rgb in COLOURS.items()
    }
    assert min(hidden.values()) < 0.01 * sum(hidden.values()), hidden


def _line(spec: dict, rows: list[dict]) -> np.ndarray:
    """The pixels of the curve that `spec` draws through `rows`, as the one
    revision of `dvc plots show` (DVC's first colour, the report's PR colour)."""
    spec = copy.deepcopy(spec)
    spec["data"]["values"] = [{**row, "rev": "workspace"} for row in rows]
    return _ink(plots.render_png(spec), COLOURS["PR"])


@pytest.mark.parametrize(
    ("title", "curve", "both_ways"),
    [
        ("ROC curve", roc_points, True),
        # A precision-recall curve zigzags at every positive: drawn whole, tens of
        # thousands of vertices make a band some pixels wide, and the reduced
        # curve runs inside it.
        ("Precision-recall curve", pr_points, False),
    ],
)
def test_a_reduced_curve_draws_the_line_of_the_whole_curve(
    specs, title, curve, both_ways
) -> None:
    rows = 50_000
    y, proba = scored(rows)
    whole = curve(y, proba, points=rows)
    assert len(whole) > 10 * CURVE_POINTS
    full = _line(specs[title], whole)
    reduced = _line(specs[title], curve(y, proba))
    near_full = ndimage.distance_transform_edt(~full)
    # Every pixel of the reduced curve is on the whole curve's line, give or take
    # the two pixels of antialiasing, and it runs through every column the whole
    # curve does.
    assert near_full[reduced].max() <= 2
    assert not (full.any(axis=0) & ~reduced.any(axis=0)).any()
    if both_ways:
        assert ndimage.distance_transform_edt(~reduced)[full].max() <= 2
    # The check sees a curve that lost its shape: a dozen vertices, joined by
    # chords that leave the line.
    crude = _line(specs[title], curve(y, proba, points=12))
    assert near_full[crude].max() > 2
