"""The report's plots: DVC's Vega-Lite specs, relabelled and rendered to PNG.

`dvc plots diff BASE --json` gives one spec per plot with the base and the
workspace drawn together; `vl-convert` renders them without a browser.
"""

from __future__ import annotations

import copy
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def slug(title: str) -> str:
    """A file name for a plot title: `ROC curve` -> `roc-curve`."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def dash_legend(node: Any) -> None:
    """Show each line's dash in its revision's legend entry, in place.

    The templates dash the curves by revision without a legend of their own:
    Vega-Lite merges two legends only when their scales share a domain, and only
    the colour's domain (which DVC fills in) names the revisions. Here it is known,
    so the dash scale takes it and the two legends become one.
    """
    if isinstance(node, list):
        for item in node:
            dash_legend(item)
    if not isinstance(node, dict):
        return
    encoding = node.get("encoding", {})
    dash, colour = encoding.get("strokeDash"), encoding.get("color")
    if isinstance(dash, dict) and isinstance(colour, dict):
        domain = colour.get("scale", {}).get("domain")
        if domain and dash.get("field") == colour.get("field"):
            dash.pop("legend", None)
            dash.setdefault("scale", {})["domain"] = list(domain)
    for value in node.values():
        dash_legend(value)


def relabel(spec: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A copy of a Vega-Lite spec with revision names replaced (`workspace` ->
    `PR`), one legend for each line's colour and dash, and the confusion
    matrix's counts shown without a click."""
    spec = copy.deepcopy(spec)
    dash_legend(spec)

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
    # vl-convert renders outside the GIL: two threads halve the wait.
    with ThreadPoolExecutor(max_workers=2) as pool:
        images = pool.map(render_png, [spec for _, _, spec in jobs])
        for (_, path, _), png in zip(jobs, images, strict=True):
            path.write_bytes(png)
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
