"""The benchmark keeps working: its synthetic scale-up keeps the data contract, and
the tiny mode measures every section for every stage in dvc.yaml (figures unchecked).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn import contract
from churn.data import ingest
from conftest import ROOT, make, pipeline_stages

# run.py imports its siblings (scale, timing, report, ...) as top-level modules.
sys.path.insert(0, str(ROOT / "benchmarks"))


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


scale = _load("scale", ROOT / "benchmarks" / "scale.py")
timing = _load("timing", ROOT / "benchmarks" / "timing.py")
bench = _load("bench_run", ROOT / "benchmarks" / "run.py")

SECTIONS = {
    "config",
    "machine",
    "cold",
    "stages",
    "prediction",
    "noop",
    "incremental",
    "review",
    "floor",
    "one_process",
    "scale",
    "growth",
    "profile",
    "targets",
}
TITLES = [
    "Targets",
    "Cold run per stage",
    "The development loop",
    "Pull-request report",
    "Scaling",
    "Validation throughput",
    "Prediction",
    "Hostile input",
    "Prediction log and monitor",
    "Profile: cumulative time",
]


# ---------------------------------------------------------------- scale-up


def test_scale_up_keeps_the_contract(table: pd.DataFrame) -> None:
    big = scale.scale_up(table, 20_000, seed=7)
    assert len(big) == 20_000
    assert scale.check(big) == []
    assert big[contract.ID].is_unique
    assert list(big.columns) == contract.names()
    # Jittered, not copied: far more distinct charges than the source has.
    assert big["monthly_charges"].nunique() > table["monthly_charges"].nunique()
    share = big[contract.TARGET].eq(contract.POSITIVE).mean()
    assert 0.24 < share < 0.29, "resampling keeps the class balance"


def test_scale_up_is_seeded(table: pd.DataFrame) -> None:
    one = scale.scale_up(table, 3000, seed=1)
    pd.testing.assert_frame_equal(one, scale.scale_up(table, 3000, seed=1))
    assert not one.equals(scale.scale_up(table, 3000, seed=2))


def test_scaled_csv_reads_back_through_ingest(table: pd.DataFrame, tmp_path) -> None:
    path = scale.make_batch(2500, tmp_path / "big.csv", seed=3)
    back = ingest.read_batch(path)
    expected = scale.scale_up(table, 2500, seed=3)
    pd.testing.assert_frame_equal(back, expected, check_exact=False, atol=0.005)
    unbilled = back["tenure"].eq(0)
    assert back.loc[unbilled, "total_charges"].isna().all()
    assert back.loc[~unbilled, "total_charges"].notna().all()


def test_check_names_each_broken_rule(table: pd.DataFrame) -> None:
    bad = scale.scale_up(table, 2000, seed=5)
    billed = bad.index[bad["tenure"].gt(0)]
    bad.loc[billed[0], "total_charges"] = np.nan
    bad.loc[billed[1], "total_charges"] = bad.loc[billed[1], "monthly_charges"] * 500
    bad.loc[1, contract.ID] = bad.loc[0, contract.ID]
    problems = "\n".join(scale.check(bad))
    assert "customer_id is not unique" in problems
    assert "blank for other customers than tenure 0" in problems
    assert "total_charges / (monthly_charges * tenure)" in problems


def test_scale_up_rejects_a_non_positive_size(table: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="rows must be positive"):
        scale.scale_up(table, 0, seed=1)


# ------------------------------------------------------------ measurement helpers


def test_import_seconds_sums_self_times() -> None:
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       250 |        250 |   _io",
            "INFO churn: a log line in between",
            "import time:      1750 |       2000 | pandas",
        ]
    )
    assert timing.import_seconds(stderr) == pytest.approx(0.002)


def test_measure_reports_failure_wall_cpu_and_memory(tmp_path) -> None:
    cmd = f"{sys.executable} -c 'import json; print(1)'; exit 3"
    result = timing.measure(cmd, tmp_path, {"PATH": "/usr/bin:/bin"})
    assert result.returncode == 3
    assert result.wall_s > 0 and result.cpu_s > 0
    assert result.import_s > 0, "json's import shows up in the import time"
    assert result.peak_rss_mb > 1
    assert result.tail.strip() == "1"


# ----------------------------------------------------------------- tiny mode


def test_health_target_takes_the_worst_burst() -> None:
    targets = _load("targets", ROOT / "benchmarks" / "targets.py")

    def burst(p99: float) -> dict:
        return {"senders": 3, "p50_ms": 1.0, "p99_ms": p99, "max_ms": p99}

    calm = {"health_under_burst": burst(9.0), "health_under_crafted": {"a": burst(20)}}
    assert targets.hostile_target({"hostile": calm})["met"]
    assert (
        "20.0 ms, the worst of 2" in targets.hostile_target({"hostile": calm})["value"]
    )
    stalled = {**calm, "health_under_crafted": {"a": burst(20), "b": burst(140)}}
    assert not targets.hostile_target({"hostile": stalled})["met"]
    unmeasured = targets.hostile_target({})
    assert unmeasured["value"] == "not measured" and not unmeasured["met"]


def test_overhead_target_compares_cold_with_one_process() -> None:
    targets = _load("targets", ROOT / "benchmarks" / "targets.py")
    cold = {"cold": {"wall_s": 14.0}}
    met = targets.overhead_target({**cold, "one_process": {"wall_s": 10.0}})
    assert met["met"] and met["value"] == "14.0 s vs 10.0 s (1.40 x)"
    missed = targets.overhead_target({**cold, "one_process": {"wall_s": 6.0}})
    assert not missed["met"] and "(2.33 x)" in missed["value"]
    unmeasured = targets.overhead_target(cold)
    assert unmeasured["value"] == "not measured" and not unmeasured["met"]


@pytest.mark.slow
def test_tiny_benchmark_measures_every_section(tmp_path: Path) -> None:
    # The serving section measures MLflow too, which only the bench extra installs.
    assert importlib.util.find_spec("mlflow"), "no bench extra: `make test` adds it"
    proc = make("bench-tiny", ROOT, f"BENCH_OUT={tmp_path}")
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results) >= SECTIONS
    stages = pipeline_stages()
    assert [s["name"] for s in results["stages"]] == stages
    assert results["cold"]["ran"] == stages, "cold runs every stage of dvc.yaml"
    assert set(results["cold"]["stages_s"]) == set(stages)
    assert results["noop"]["ran"] == []
    assert "train" in results["incremental"]["ran"]
    assert "validate" not in results["incremental"]["ran"]
    assert results["floor"]["wall_s"] > 0
    assert results["floor"]["kind"] == "level-0 script"
    assert results["one_process"]["wall_s"] > 0
    assert results["one_process"]["import_s"] > 0
    assert [s["rows"] for s in results["scale"]] == [2000, 7043]
    for size in results["scale"]:
        assert list(size["stages"]) == stages
        assert size["validated"], "the scaled batch passed the validate stage"
        assert size["validation_rows_per_s"] > 0
        side = size["validation"]
        assert side["rows"] == size["rows"] and side["expectations"] > 20
        assert side["read_s"] > 0 and side["check_s"] > 0 and side["bare_gx_s"] > 0
        assert all(s["peak_rss_mb"] > 0 for s in size["stages"].values())
    assert results["growth"]["from_rows"] == 2000
    assert results["profile"]["cumulative"]
    pred = results["prediction"]
    # The service and MLflow served the same model side by side, and every path
    # gave scikit-learn's probabilities.
    assert set(pred["max_abs_difference"]) == {
        "scorer",
        "http",
        "http_logged",
        "mlflow",
    }
    assert pred["identical"], pred["max_abs_difference"]
    assert pred["in_process"]["scorer"]["kind"] == "Scorer"
    served = [pred["http"], pred["http_logged"], pred["mlflow"]]
    served += pred["in_process"].values()
    for path in served:
        assert path["single"]["p99_ms"] >= path["single"]["p50_ms"] > 0
        assert path["batch"]["rows"] == 200 and path["batch"]["rows_per_s"] > 0
    assert pred["mlflow"]["command"].startswith("mlflow models serve")
    # The log's price, the worst refusals and /health meanwhile, and the monitor.
    assert pred["log_overhead"]["single_p50_ratio"] > 0
    for refused in pred["hostile"]["refusals"].values():
        assert refused["statuses"] == [422] and refused["median_s"] > 0
    bursts = [pred["hostile"]["health_under_burst"]]
    bursts += pred["hostile"]["health_under_crafted"].values()
    assert len(bursts) == 3
    for burst in bursts:
        assert burst["max_ms"] >= burst["p50_ms"] > 0
        assert burst["probes"] == 10, "tiny mode probes /health 10 times a burst"
    monitor = pred["monitor"]
    assert monitor["rows"] == monitor["logged"] == 20_000 and monitor["exit"] == 0
    assert monitor["verdict"] == "healthy" and monitor["peak_rss_mb"] > 0
    review = results["review"]["steps"]
    assert list(review) == ["report", "gate"] and review["report"]["exit"] == 0
    assert all(step["wall_s"] > 0 for step in review.values())
    assert len(results["targets"]) == 12
    assert any("bare GX" in t["target"] for t in results["targets"])
    markdown = (tmp_path / "RESULTS.md").read_text()
    for title in TITLES:
        assert f"## {title}" in markdown
        assert title in proc.stdout
    assert results["machine"]["cores"] >= 1
    # The Markdown can be rebuilt from the JSON alone, to the byte.
    again = tmp_path / "render"
    again.mkdir()
    bench.main(["--render", str(tmp_path / "results.json"), "--out", str(again)])
    assert (again / "RESULTS.md").read_text() == markdown


# ---------------------------------------------------------------- outputs in git


def test_predictions_are_sized_as_in_the_dvc_cache_not_as_kept_in_git() -> None:
    clones = _load("clones", ROOT / "benchmarks" / "clones.py")
    report = _load("report", ROOT / "benchmarks" / "report.py")
    assert clones.cached_outputs(ROOT) == ["metrics/predictions.csv"]
    assert "metrics/predictions.csv" not in clones.git_outputs(ROOT)
    sizes = [
        {"size": size, "rows": rows, "git_outputs_kb": {"plots/roc.json": 30.0}}
        for size, rows in (("bundled", 7_043), ("1M", 1_000_000))
    ]
    sizes[0]["cached_outputs_kb"] = {"metrics/predictions.csv": 12.0}
    sizes[1]["cached_outputs_kb"] = {"metrics/predictions.csv": 3_475.0}
    sizes[1]["git_outputs_kb"]["plots/confusion.csv"] = 150.0
    _, rows = report.outputs_rows({"scale": sizes})
    assert rows == [
        ["plots/roc.json", "30", "30", "<= 100 KB: met"],
        ["plots/confusion.csv", "-", "150", "<= 100 KB: MISSED"],
        ["metrics/predictions.csv (DVC cache)", "12", "3,475", "not in git: met"],
    ]
