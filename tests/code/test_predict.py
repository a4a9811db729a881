"""Batch scoring: CSV in, the same CSV with churn probability out."""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from churn import contract
from churn.delivery import predict
from conftest import SOURCE
from delivery_helpers import bundled, fitted, reference_proba


def _write(table: pd.DataFrame, path: Path) -> Path:
    table.to_csv(path, index=False)
    return path


def test_labelled_csv_keeps_its_columns_and_gains_probabilities(
    built: Path, tmp_path: Path
) -> None:
    out = tmp_path / "scored.csv"
    assert (
        predict.main(
            ["--input", str(SOURCE), "--output", str(out), "--package", str(built)]
        )
        == 0
    )
    scored = pd.read_csv(out)
    assert list(scored.columns) == [*contract.names(), "churn_probability"]
    assert len(scored) == 7043
    np.testing.assert_allclose(
        scored["churn_probability"],
        reference_proba(fitted(), bundled()),
        rtol=0,
        atol=1e-12,
    )


def test_target_column_is_optional(built: Path, tmp_path: Path) -> None:
    raw = pd.read_csv(SOURCE, dtype=str, keep_default_na=False).head(40)
    source = _write(raw.drop(columns=[contract.TARGET]), tmp_path / "new.csv")
    out = tmp_path / "scored.csv"
    assert (
        predict.main(
            ["--input", str(source), "--output", str(out), "--package", str(built)]
        )
        == 0
    )
    scored = pd.read_csv(out)
    assert contract.TARGET not in scored.columns
    assert scored[contract.ID].tolist() == list(range(1, 41))
    np.testing.assert_allclose(
        scored["churn_probability"],
        reference_proba(fitted(), bundled().head(40)),
        rtol=0,
        atol=1e-12,
    )


def test_contract_violations_are_refused_by_line_and_column(
    built: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = pd.read_csv(SOURCE, dtype=str, keep_default_na=False).head(10)
    raw.loc[3, "contract"] = "Weekly"
    raw.loc[6, "tenure"] = "99"
    source = _write(raw, tmp_path / "bad.csv")
    out = tmp_path / "scored.csv"
    with caplog.at_level(logging.ERROR):
        code = predict.main(
            ["--input", str(source), "--output", str(out), "--package", str(built)]
        )
    assert code == 1 and not out.exists()
    assert "2 value(s) break the data contract" in caplog.text
    assert "line 5 (customer_id 4), column 'contract'" in caplog.text
    assert "line 8 (customer_id 7), column 'tenure'" in caplog.text
    assert "'Weekly'" in caplog.text


def test_shape_problems_use_the_ingest_messages(
    built: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    raw = pd.read_csv(SOURCE, dtype=str, keep_default_na=False).head(5)
    source = _write(raw.drop(columns=["tenure"]), tmp_path / "short.csv")
    with caplog.at_level(logging.ERROR):
        code = predict.main(
            ["--input", str(source), "--output", str(tmp_path / "o.csv")]
        )
    assert code == 1
    assert "missing column(s) ['tenure']" in caplog.text


def test_read_customers_reports_whether_labels_exist(tmp_path: Path) -> None:
    raw = pd.read_csv(SOURCE, dtype=str, keep_default_na=False).head(3)
    table, labelled = predict.read_customers(_write(raw, tmp_path / "a.csv"))
    assert labelled and table[contract.TARGET].tolist() == ["No", "No", "Yes"]
    unlabelled = _write(raw.drop(columns=[contract.TARGET]), tmp_path / "b.csv")
    table, labelled = predict.read_customers(unlabelled)
    assert not labelled and table[contract.TARGET].isna().all()
