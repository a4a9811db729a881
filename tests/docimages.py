"""Make the pictures the docs show, and the level-2 example report, from real runs.

`make doc-images` (or `python tests/docimages.py`) writes, from this repository's
last commit:

- `levels/2-cicd-automation/example-report.md` and its `report-plots/*.png`: the
  report that the train workflow writes for a pull request setting
  `train.logistic_regression.C` to 0.3, run with act as `make act-train` runs it.
  `--work DIR` reuses the run that `make act-train WORK=DIR` made of the same commit
  with that parameter, and makes the run there when DIR is empty;
- `levels/1-pipeline-automation/images/drift-month-6.png`: the PSI of each feature
  in month 6, the first month with a simulated shift, with the PSI limit, from the
  pipeline run through month 6 in a clone.

Every PNG is drawn by vl-convert from the committed plot templates, as the report's
plots are. `--out ROOT` writes them under another folder than this repository.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# Run as a script, neither the package's sources nor the act driver are importable.
sys.path[:0] = [str(ROOT / "src"), str(HERE / "workflows")]
import actrun  # noqa: E402

import scratch  # noqa: E402
from churn.review import page, plots  # noqa: E402

#: The level-2 example: a one-parameter pull request that the gate lets through.
EXAMPLE_PARAM = "train.logistic_regression.C=0.3"
EXAMPLE_ROW = "| `train.logistic_regression.C` | `1.0` | `0.3` |"
EXAMPLE = Path("levels/2-cicd-automation")
#: The month whose drift level 1 shows, and the chart's file.
DRIFT_MONTH = 6
DRIFT_CHART = Path("levels/1-pipeline-automation/images/drift-month-6.png")
DRIFT_PLOT = "plots/drift.json"
#: An image the docs show loads in a page in a moment.
MAX_BYTES = 200_000

log = logging.getLogger("docimages")


class DocImagesError(RuntimeError):
    """A run that cannot give the docs their pictures, and why."""


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def _run(cmd: list[str], repo: Path, venv: Path) -> str:
    proc = subprocess.run(
        cmd,
        cwd=repo,
        env=scratch.tool_env(venv, repo),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise DocImagesError(
            f"{' '.join(cmd)} exited {proc.returncode} in {repo}:\n"
            f"{proc.stdout[-3000:]}{proc.stderr[-3000:]}"
        )
    return proc.stdout


def act_report(work: Path, venv: Path, source: Path = ROOT) -> Path:
    """The folder of the report artifact of the example pull request's train run
    in `work`: reused when `work` holds one of `source`'s last commit, else made."""
    repo, report = work / "repo", work / "artifacts" / "report-1"
    head = _git(source, "rev-parse", "HEAD")
    if repo.exists():
        if _git(repo, "rev-parse", "main") != head:
            raise DocImagesError(
                f"{work} holds an act run of another commit than {head[:7]}: "
                "pass an empty folder"
            )
        log.info("reusing the act run in %s", work)
    else:
        work.mkdir(parents=True, exist_ok=True)
        repo = actrun.pull_request_clone(repo, [EXAMPLE_PARAM], source=source)
        log.info("running the train workflow with act on %s (minutes)", EXAMPLE_PARAM)
        train = actrun.run_act(repo, venv=venv, work=work)
        if train.returncode != 0:
            raise DocImagesError(
                f"act exited {train.returncode}:\n{train.output[-5000:]}"
            )
    text = (
        (report / "report.md").read_text() if (report / "report.md").is_file() else ""
    )
    if EXAMPLE_ROW not in text:
        raise DocImagesError(
            f"{report / 'report.md'} is not the report of a pull request that sets "
            f"{EXAMPLE_PARAM} alone"
        )
    return report


def image_links(markdown: str) -> list[tuple[str, str]]:
    """(alt text, link) of each Markdown image, in order."""
    return re.findall(r"!\[([^\]]*)\]\(([^)\s]+)\)", markdown)


def copy_example(report: Path, dest: Path) -> list[Path]:
    """Put the report in `report` (its report.md and the PNGs it links) into `dest`
    as example-report.md and report-plots/, replacing the PNGs there."""
    text = (report / "report.md").read_text()
    links = [link for _, link in image_links(text)]
    for link in links:
        data = (report / link).read_bytes() if (report / link).is_file() else b""
        if not data.startswith(b"\x89PNG\r\n\x1a\n") or len(data) > MAX_BYTES:
            raise DocImagesError(
                f"{report / link} is not a PNG under {MAX_BYTES} bytes"
            )
    folder = dest / "report-plots"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    written = [dest / "example-report.md"]
    written[0].write_text(text)
    for link in links:
        written.append(dest / link)
        shutil.copyfile(report / link, dest / link)
    return written


def single_series(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of one revision's spec without the legend that would name it
    `workspace`."""
    spec = json.loads(json.dumps(spec))
    for layer in [spec, *spec.get("layer", [])]:
        colour = layer.get("encoding", {}).get("color")
        if isinstance(colour, dict):
            colour["legend"] = None
    return spec


def plot_titles(dvc_yaml: dict[str, Any], data: str) -> list[str]:
    """Titles of the plots that `dvc.yaml` defines on the file `data`."""
    return [
        title
        for plot in dvc_yaml.get("plots", [])
        if isinstance(plot, dict)
        for title, spec in plot.items()
        if isinstance(spec, dict) and data in (spec.get("y") or {})
    ]


def drift_chart(work: Path, venv: Path, out: Path, source: Path = ROOT) -> Path:
    """Run the pipeline through `DRIFT_MONTH` in a clone of `source` in `work` and
    draw its drift plot to `out`."""
    repo = work / f"month-{DRIFT_MONTH}"
    if repo.exists():
        shutil.rmtree(repo)
    subprocess.run(["git", "clone", "-q", str(source), str(repo)], check=True)
    scratch.set_params(repo, {"batches.through_month": DRIFT_MONTH})
    log.info("running the pipeline through month %d, up to drift", DRIFT_MONTH)
    _run(["dvc", "repro", "drift"], repo, venv)
    verdict = json.loads((repo / "metrics" / "drift.json").read_text())
    if verdict.get("month") != DRIFT_MONTH or verdict.get("verdict") != "drift":
        raise DocImagesError(f"month {DRIFT_MONTH} shows no drift: {verdict}")
    # `dvc plots show FILE` would draw the file with DVC's default template; the
    # plot that dvc.yaml defines for it comes with the others.
    shown = dict(
        page.specs(json.loads(_run(["dvc", "plots", "show", "--json"], repo, venv)))
    )
    titles = plot_titles(yaml.safe_load((repo / "dvc.yaml").read_text()), DRIFT_PLOT)
    if len(titles) != 1 or titles[0] not in shown:
        raise DocImagesError(
            f"dvc.yaml draws {DRIFT_PLOT} in {titles}, not in one plot"
        )
    png = plots.render_png(single_series(shown[titles[0]]))
    if len(png) > MAX_BYTES:
        raise DocImagesError(f"the drift chart takes {len(png)} bytes")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point for `make doc-images`."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--venv", type=Path, default=Path(sys.prefix))
    parser.add_argument("--work", type=Path, help="folder of an act-train run")
    parser.add_argument("--out", type=Path, default=ROOT, help="where levels/ is")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    work = args.work or Path(tempfile.mkdtemp(prefix="doc-images-"))
    try:
        written = copy_example(act_report(work, args.venv), args.out / EXAMPLE)
        written.append(drift_chart(work, args.venv, args.out / DRIFT_CHART))
    except (DocImagesError, OSError, subprocess.CalledProcessError) as exc:
        log.error("cannot make the docs' pictures: %s", exc)
        return 1
    for path in written:
        log.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
