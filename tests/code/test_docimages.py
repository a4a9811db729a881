"""`make doc-images` (tests/docimages.py): what it refuses and what it copies.

The whole run, act and the month-6 pipeline included, is in
tests/workflows/test_act_train.py; these cases need neither.
"""

import subprocess
from pathlib import Path

import pytest
import yaml

import docimages
from conftest import ROOT

PNG = b"\x89PNG\r\n\x1a\n"


def _repo(path: Path, message: str) -> Path:
    path.mkdir(parents=True)
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.email", "test@example.com"],
        ["git", "config", "user.name", "test"],
        ["git", "commit", "-q", "--allow-empty", "-m", message],
    ):
        subprocess.run(cmd, cwd=path, check=True)
    return path


def _report(folder: Path, text: str, pngs: dict[str, bytes]) -> Path:
    (folder / "report-plots").mkdir(parents=True)
    (folder / "report.md").write_text(text)
    for name, data in pngs.items():
        (folder / "report-plots" / name).write_bytes(data)
    return folder


def test_a_run_of_another_commit_is_not_reused(tmp_path: Path) -> None:
    source = _repo(tmp_path / "source", "now")
    work = tmp_path / "work"
    _repo(work / "repo", "before")
    with pytest.raises(docimages.DocImagesError, match="another commit"):
        docimages.act_report(work, Path("unused"), source=source)


def test_a_report_of_another_change_is_refused(tmp_path: Path) -> None:
    source = _repo(tmp_path / "source", "now")
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(source), str(work / "repo")], check=True)
    text = "| `train.logistic_regression.C` | `1.0` | `0.5` |\n"
    _report(work / "artifacts" / "report-1", text, {})
    with pytest.raises(docimages.DocImagesError, match="C=0.3 alone"):
        docimages.act_report(work, Path("unused"), source=source)
    (work / "artifacts" / "report-1" / "report.md").write_text(docimages.EXAMPLE_ROW)
    found = docimages.act_report(work, Path("unused"), source=source)
    assert found == work / "artifacts" / "report-1"


def test_the_example_replaces_the_old_plots(tmp_path: Path) -> None:
    text = "## Report\n\n![ROC curve](report-plots/roc-curve.png)\n"
    report = _report(tmp_path / "report", text, {"roc-curve.png": PNG + b"new"})
    dest = tmp_path / "example"
    (dest / "report-plots").mkdir(parents=True)
    (dest / "report-plots" / "gone.png").write_bytes(PNG)
    written = docimages.copy_example(report, dest)
    assert written == [dest / "example-report.md", dest / "report-plots/roc-curve.png"]
    assert (dest / "example-report.md").read_text() == text
    assert sorted(p.name for p in (dest / "report-plots").iterdir()) == [
        "roc-curve.png"
    ]
    assert (dest / "report-plots" / "roc-curve.png").read_bytes() == PNG + b"new"


@pytest.mark.parametrize(
    ("data", "name"),
    [(b"GIF89a", "fake.png"), (PNG + bytes(docimages.MAX_BYTES), "big.png")],
)
def test_plots_that_are_not_small_pngs_are_refused(tmp_path, data, name) -> None:
    text = f"![x](report-plots/{name})\n![y](report-plots/missing.png)\n"
    report = _report(tmp_path / "report", text, {name: data})
    with pytest.raises(docimages.DocImagesError, match=name):
        docimages.copy_example(report, tmp_path / "example")
    assert not (tmp_path / "example" / "example-report.md").exists()


def test_the_drift_chart_is_the_plot_dvc_yaml_defines_on_the_drift_data() -> None:
    dvc_yaml = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    assert docimages.plot_titles(dvc_yaml, docimages.DRIFT_PLOT) == [
        "Drift of the newest month (PSI per feature)"
    ]
    assert docimages.plot_titles(dvc_yaml, "plots/nothing.json") == []


def test_one_revision_is_drawn_without_a_legend_naming_it() -> None:
    spec = {"layer": [{"encoding": {"color": {"field": "rev"}}}, {"mark": "rule"}]}
    out = docimages.single_series(spec)
    assert out["layer"][0]["encoding"]["color"] == {"field": "rev", "legend": None}
    assert "legend" not in spec["layer"][0]["encoding"]["color"], "input unchanged"
