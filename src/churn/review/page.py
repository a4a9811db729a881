"""`churn plots`: every plot `dvc.yaml` declares, on one page that works offline.

`dvc plots show` writes a page that loads Vega from a CDN, so it is blank without a
network. This page inlines the Vega, Vega-Lite and Vega-Embed bundle that vl-convert
ships, and the data of each plot, so it opens from disk anywhere: on a laptop on a
train, on a build machine, in an artifact downloaded from CI.
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import shutil
import webbrowser
from pathlib import Path
from typing import Any

from churn import config, lineage

log = logging.getLogger(__name__)


def specs(shown: Any) -> list[tuple[str, dict[str, Any]]]:
    """(title, Vega-Lite spec) for each plot in `dvc plots show --json` output."""
    if not isinstance(shown, dict) or not isinstance(shown.get("data"), dict):
        raise ValueError("dvc plots show printed no plots")
    found = [
        (title, item["content"])
        for title, items in shown["data"].items()
        for item in items
        if item.get("type") == "vega" and isinstance(item.get("content"), dict)
    ]
    if not found:
        raise ValueError("dvc plots show printed no Vega-Lite plots")
    return found


def page(plots: list[tuple[str, dict[str, Any]]], bundle: str) -> str:
    """A self-contained HTML page drawing `plots` with the inlined `bundle`."""
    figures = "\n".join(
        f"<figure><figcaption>{html.escape(title)}</figcaption>"
        f'<div class="plot" id="plot-{i}"></div></figure>'
        for i, (title, _) in enumerate(plots)
    )
    # `</` inside a script would end it early; JSON may escape the slash.
    data = json.dumps([spec for _, spec in plots]).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Churn model: plots</title>
<style>
body {{ font-family: sans-serif; margin: 2rem; }}
figure {{ display: inline-block; vertical-align: top; margin: 0 2rem 2rem 0; }}
figcaption {{ font-weight: bold; margin-bottom: .5rem; }}
</style>
<script>{bundle}</script>
</head>
<body>
<h1>Churn model: plots</h1>
{figures}
<script>
const specs = {data};
specs.forEach((spec, i) => vegaEmbed("#plot-" + i, spec, {{actions: false}}));
</script>
</body>
</html>
"""


def write(out: Path, plots: list[tuple[str, dict[str, Any]]]) -> Path:
    """Write the page for `plots` to `out`, with vl-convert's bundle inlined."""
    import vl_convert

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page(plots, vl_convert.javascript_bundle()), encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point: render this checkout's plots to one offline page."""
    parser = argparse.ArgumentParser(
        prog="churn plots",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=config.PLOTS_PAGE)
    parser.add_argument(
        "--open", action="store_true", help="open the page in a browser, if any"
    )
    args = parser.parse_args(argv)
    config.setup_logging()
    try:
        plots = specs(lineage.dvc_json(["plots", "show"]))
    except (lineage.LineageError, ValueError) as exc:
        log.error("cannot draw the plots: %s", exc)
        return 1
    out = write(args.out, plots)
    log.info("wrote %d plots to %s (no network needed)", len(plots), out)
    if args.open:
        browser = shutil.which("xdg-open") or shutil.which("open")
        if browser is None or not webbrowser.open(out.resolve().as_uri()):
            log.warning("no browser here: open %s yourself", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
