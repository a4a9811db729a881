"""`make plots` draws every plot on a page that works with the network off.

The page is opened in a real headless Chromium whose every outside request fails,
and what it drew is checked twice: Vega-Embed's canvases in the DOM, and pixels
that are not background in a screenshot.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import pngs
from conftest import ROOT, make

#: `make plots` and a browser per test: end to end, so not for the edit loop.
pytestmark = pytest.mark.slow

#: Chromium with no way out: names resolve to nothing, and the proxy is a closed
#: port, so anything the page tried to load from a network would fail.
OFFLINE = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=http://127.0.0.1:9",
    "--virtual-time-budget=15000",
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "no chromium on PATH: .ci/run installs it (apt-get install chromium); "
            "GitHub's runners ship one"
        )
    return found


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # The plots' data are committed, so the page can be drawn from this checkout.
    out = tmp_path_factory.mktemp("plots") / "index.html"
    make("plots", ROOT)
    built = ROOT / "dvc_plots" / "index.html"
    shutil.copyfile(built, out)
    return out


def test_the_page_loads_nothing_from_a_network(page: Path) -> None:
    text = page.read_text()
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?https?:", text)
    titles = list(yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"])
    for plot in titles:
        assert f"<figcaption>{next(iter(plot))}</figcaption>" in text


def test_chromium_offline_draws_every_plot(page: Path) -> None:
    chromium = _chromium()
    dom = subprocess.run(
        [chromium, *OFFLINE, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    plots = len(yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"])
    # Vega-Embed draws each plot as an SVG (or canvas) of class "marks".
    drawn = re.findall(r'<(?:svg|canvas)[^>]*class="marks"', dom.stdout)
    assert len(drawn) == plots, dom.stdout[-3000:]


def test_the_screenshot_is_not_blank(page: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    shot = tmp_path / "page.png"
    proc = subprocess.run(
        [
            chromium,
            *OFFLINE,
            "--window-size=1400,2200",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    rows = pngs.pixels(shot.read_bytes())
    ink = sum(
        1
        for row in rows
        for i in range(0, len(row), 3)
        if row[i : i + 3] != b"\xff\xff\xff"
    )
    total = sum(len(row) // 3 for row in rows)
    # The title alone inks well under 1%; six drawn plots ink several percent.
    assert ink / total > 0.02, f"only {ink / total:.2%} of the page is drawn"
