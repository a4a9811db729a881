"""The table the model learns from is parsed from CSV once per run.

`validate` writes the typed table it passed as Parquet, `batches` writes where the
months fall; `ingest` reads those two and no CSV, with the result it had when it
parsed `ingest.source` and the upstream again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from churn import config, contract
from churn.data import batches, csvfile, ingest, validate
from conftest import ROOT, SOURCE

#: The paths the validate and ingest stages read and write, moved to a scratch root.
MOVED = {
    "ROOT": ".",
    "LATEST_BATCH": config.FILES.latest_batch,
    "ALL_BATCHES": config.FILES.all_batches,
    "MONTHS_FILE": config.FILES.months,
    "VALIDATED_TABLE": config.FILES.validated,
    "VALIDATION_METRICS": config.FILES.validation,
    "VALIDATION_RESULT": config.FILES.validation_result,
    "DATA_DOCS": config.FILES.data_docs,
    "RAW_DATA": config.FILES.raw,
}


def _months_as_before(ids: pd.Series, upstream_ids: pd.Series, months: int):
    """The month of each id as ingest found it when it read the upstream CSV: the
    month `assign_months` gave the id's first row in the upstream."""
    keys = pd.Index(batches.arrival_order(upstream_ids).astype("int64"))
    arrived = batches.assign_months(upstream_ids, months).to_numpy()
    first = ~keys.duplicated()
    at = keys[first].get_indexer(pd.to_numeric(ids))
    assert (at >= 0).all()
    return pd.Series(arrived[first][at], index=ids.index, dtype="Int64")


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory):
    """A scratch project on which `batches` and `validate` ran as the validate
    stage runs them; yields its root with its paths patched in `churn.config`."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(
        ROOT / "gx", root / "gx", ignore=shutil.ignore_patterns("uncommitted")
    )
    params = config.load_params()["batches"] | {"source": str(SOURCE)}
    with pytest.MonkeyPatch.context() as mp:
        for name, rel in MOVED.items():
            mp.setattr(config, name, root / rel)
        mp.setattr(batches, "_params", lambda: params)
        assert batches.main([]) == 0
        argv = ["--source", str(config.LATEST_BATCH)]
        argv += ["--source", str(config.ALL_BATCHES)]
        assert validate.main([*argv, "--out", str(config.VALIDATED_TABLE)]) == 0
        yield root


def test_validate_writes_the_table_read_batch_gives(stage: Path) -> None:
    written = pd.read_parquet(config.VALIDATED_TABLE)
    # check_exact: the same values, and the same dtypes (string, Int64, float64).
    pd.testing.assert_frame_equal(
        written, ingest.read_batch(config.ALL_BATCHES), check_exact=True
    )
    assert {c: str(t) for c, t in written.dtypes.items()} == contract.pandas_dtypes()


def test_ingest_reads_no_csv_and_writes_the_table_it_wrote_before(
    stage: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What ingest wrote when it parsed ingest.source and the upstream for its ids.
    table = ingest.read_batch(config.ALL_BATCHES)
    upstream = csvfile.read_csv_text(SOURCE)[contract.ID]
    months = _months_as_before(
        table[contract.ID], upstream, batches._params()["months"]
    )
    before = table.assign(**{contract.MONTH: months})

    def parse(*args, **kwargs):
        raise AssertionError(f"ingest parsed a CSV: {args[:1]}")

    for module, name in (
        (csvfile, "read_csv_text"),
        (ingest, "read_csv_text"),
        (ingest, "read_batch"),
        (pd, "read_csv"),
    ):
        monkeypatch.setattr(module, name, parse)
    assert ingest.main([]) == 0
    after = pd.read_parquet(config.RAW_DATA)
    pd.testing.assert_frame_equal(after, before, check_exact=True)
    assert sorted(after[contract.MONTH].unique()) == [1, 2, 3, 4]


def test_ingest_refuses_a_validated_table_of_customers_the_upstream_lacks(
    stage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    table = pd.read_parquet(config.VALIDATED_TABLE)
    stranger = table.head(3).assign(**{contract.ID: pd.array([1, 99999, 2], "Int64")})
    path = tmp_path / "all.parquet"
    stranger.to_parquet(path, index=False)
    monkeypatch.setattr(config, "VALIDATED_TABLE", path)
    out = tmp_path / "raw.parquet"
    assert ingest.main(["--out", str(out)]) == 1
    assert "99999" in caplog.text and "upstream customers only" in caplog.text
    assert not out.exists()


@pytest.mark.parametrize(
    ("fault", "rule"),
    [
        ("missing", "file not found"),
        ("not json", "not JSON"),
        ("wrong shape", "not the months file"),
        ("runs not pairs", "not the months file"),
    ],
)
def test_ingest_refuses_a_months_file_it_cannot_use(
    stage: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog,
    fault: str,
    rule: str,
) -> None:
    path = tmp_path / "months.json"
    if fault == "not json":
        path.write_text("{", encoding="utf-8")
    elif fault == "wrong shape":
        path.write_text('{"months": 7, "last_ids": [1], "id_runs": []}\n')
    elif fault == "runs not pairs":
        path.write_text('{"months": 1, "last_ids": [9], "id_runs": [[1]]}\n')
    monkeypatch.setattr(config, "MONTHS_FILE", path)
    out = tmp_path / "raw.parquet"
    assert ingest.main(["--out", str(out)]) == 1
    assert rule in caplog.text and str(path) in caplog.text
    assert not out.exists()


def test_ingest_refuses_a_table_without_the_contract_dtypes(
    stage: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    path = tmp_path / "all.parquet"
    pd.read_parquet(config.VALIDATED_TABLE).astype({"tenure": "float64"}).to_parquet(
        path, index=False
    )
    monkeypatch.setattr(config, "VALIDATED_TABLE", path)
    out = tmp_path / "raw.parquet"
    assert ingest.main(["--out", str(out)]) == 1
    assert "the contract's" in caplog.text and not out.exists()
    monkeypatch.setattr(config, "VALIDATED_TABLE", tmp_path / "none.parquet")
    assert ingest.main(["--out", str(out)]) == 1
    assert "file not found" in caplog.text and not out.exists()


@pytest.mark.parametrize("last", [False, True], ids=["bad-first", "bad-last"])
@pytest.mark.parametrize("fault", ["fails an expectation", "cannot be read"])
def test_a_failed_validation_writes_no_table_and_leaves_none_behind(
    stage: Path, tmp_path: Path, fault: str, last: bool
) -> None:
    bad = tmp_path / "bad.csv"
    good = config.ALL_BATCHES.read_text(encoding="utf-8")
    if fault == "fails an expectation":
        bad.write_text(good.replace(",No,", ",Maybe,", 1), encoding="utf-8")
    else:
        bad.write_text(good.replace(",", ";"), encoding="utf-8")
    out = tmp_path / "all.parquet"
    out.write_bytes(b"a table an earlier run checked")
    sources = [str(config.LATEST_BATCH), str(bad)] if last else [str(bad), "x.csv"]
    argv = [arg for source in sources for arg in ("--source", source)]
    assert validate.main([*argv, "--out", str(out)]) == 1
    assert not out.exists()
    assert json.loads(config.VALIDATION_METRICS.read_text())["success"] is False


@pytest.mark.parametrize("months", [1, 2, 7, 10])
def test_the_months_file_gives_the_bundled_upstream_its_months(months: int) -> None:
    upstream = csvfile.read_csv_text(SOURCE)[contract.ID]
    found = batches.month_of(upstream, batches.calendar(upstream, months))
    assert found.tolist() == _months_as_before(upstream, upstream, months).tolist()
    assert found.dtype == "Int64"


def test_ids_in_any_order_with_gaps_and_repeats_keep_their_months() -> None:
    # Repeated ids where a month is cut: the id keeps the month of its first row.
    upstream = pd.Series(["9", "3", "3", "12", "1", "7", "7", "7", "2", "20", "4", "4"])
    for months in range(1, 8):
        calendar = batches.calendar(upstream, months)
        expected = _months_as_before(upstream, upstream, months).tolist()
        assert batches.month_of(upstream, calendar).tolist() == expected, months
    assert calendar["id_runs"] == [[1, 4], [7, 7], [9, 9], [12, 12], [20, 20]]
    assert json.loads(json.dumps(calendar)) == calendar


@pytest.mark.parametrize("stranger", [4.0, 0.0, 8.0, 2.5, None])
def test_an_id_the_upstream_lacks_has_no_month(stranger: float | None) -> None:
    calendar = batches.calendar(pd.Series(["1", "2", "3", "5", "6", "7"]), 2)
    ids = pd.Series([1.0, stranger, 6.0], dtype="float64")
    with pytest.raises(KeyError, match="1 customer_id"):
        batches.month_of(ids, calendar)
    ok = pd.Series(pd.array([1, 3, 5, 7], dtype="Int64"))
    assert batches.month_of(ok, calendar).tolist() == [1, 1, 2, 2]
