"""The report's plots: DVC's Vega-Lite specs, relabelled and rendered to PNG.

`dvc plots diff BASE --json` gives one spec per plot with the base and the
workspace drawn together; `vl-convert` renders them without a browser.
"""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def slug(title: str) -> str:
    """A file name for a plot title: `ROC curve` -> `roc-curve`."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


#: What the report's legends call a revision: in a report, each is one model.
LEGEND_TITLE = "model"


def revision_legend(node: Any) -> None:
    """One legend of the revisions, titled `LEGEND_TITLE`, in place.

    The curve templates dash each revision's line but give the dashes no legend:
    Vega-Lite merges two legends only when their scales share a domain, and only
    the colour's domain (which DVC fills in) names the revisions. Here that domain
    is known, so the dash scale takes it and each colour's entry shows its dash.
    """
    if isinstance(node, list):
        for item in node:
            revision_legend(item)
    if not isinstance(node, dict):
        return
    encoding = node.get("encoding", {})
    colour, dash = encoding.get("color"), encoding.get("strokeDash")
    if isinstance(colour, dict) and colour.get("field") == "rev":
        colour.setdefault("title", LEGEND_TITLE)
        domain = colour.get("scale", {}).get("domain")
        if isinstance(dash, dict) and dash.get("field") == "rev" and domain:
            dash.pop("legend", None)
            dash.setdefault("scale", {})["domain"] = list(domain)
    for value in node.values():
        revision_legend(value)


def relabel(spec: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A copy of a Vega-Lite spec with revision names replaced (`workspace` ->
    `PR`), one legend of them (`revision_legend`), and the confusion matrix's
    counts shown without a click."""
    spec = copy.deepcopy(spec)
    revision_legend(spec)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return names.get(node, node) if isinstance(node, str) else node

    spec = walk(spec)
    for param in spec.get("params", []):
        if param.get("name") == "showValues":
            param["value"] = True
    return spec


def render_png(spec: dict[str, Any]) -> bytes:
    """A Vega-Lite spec rendered to PNG (no browser; vl-convert)."""
    import vl_convert

    return vl_convert.vegalite_to_png(spec, scale=1.5)


#: The smallest chart with text: rendering it starts what every PNG needs.
_FIRST = {
    "data": {"values": [{"x": 0}]},
    "mark": "point",
    "encoding": {"x": {"field": "x", "type": "quantitative"}},
}


def warm_up() -> None:
    """Start vl-convert's JavaScript engine and load its fonts, which the first
    render of each process pays for (most of a second), by rendering `_FIRST`.

    The report does it while other work runs, so its plots do not wait for it.
    """
    render_png(_FIRST)


def write_plots(
    plots: dict[str, list[dict[str, Any]]], folder: Path, names: dict[str, str]
) -> list[tuple[str, Path]]:
    """Render `dvc plots diff --json` output into `folder`; (title, file) pairs."""
    folder.mkdir(parents=True, exist_ok=True)
    jobs = []
    for title, items in plots.items():
        specs = [i for i in items if i.get("type") == "vega" and i.get("content")]
        for k, item in enumerate(specs):
            name = slug(title) + (f"-{k}" if k else "") + ".png"
            jobs.append((title, folder / name, relabel(item["content"], names)))
    # One after the other: vl-convert renders in one engine, so threads would
    # only queue.
    for _, path, spec in jobs:
        path.write_bytes(render_png(spec))
    log.info("rendered %d plots into %s", len(jobs), folder)
    return [(title, path) for title, path, _ in jobs]


def plots_section(images: list[tuple[str, Path]], relative_to: Path) -> str:
    """Markdown image links, relative to the report's folder."""
    if not images:
        return "_No plots._"
    return "\n\n".join(
        f"![{title}]({path.relative_to(relative_to).as_posix()})"
        for title, path in images
    )
