"""The model card from a known pipeline state."""

import datetime as dt

import pytest

from churn.pipeline import modelcard

LOCK = {
    "stages": {
        "batches": {
            "outs": [
                {"path": "data/batches/latest.csv", "md5": "l" * 32},
                {"path": "data/batches/all.csv", "md5": "a" * 32},
            ]
        },
        "ingest": {"outs": [{"path": "data/raw/churn.parquet", "md5": "r" * 32}]},
        "train": {"outs": [{"path": "models/model.skops", "md5": "m" * 32}]},
        "prepare": {},
    }
}
PARAMS = {
    "seed": 42,
    "batches": {
        "source": "data/external/telco_churn.csv",
        "months": 7,
        "through_month": 6,
        "shifts": {"fibre_price_rise": 6, "contract_promotion": 7, "off": None},
    },
    "prepare": {"test_size": 0.2},
    "train": {"estimator": "logistic_regression", "logistic_regression": {"C": 1.0}},
}
METRICS = {"roc_auc": 0.85, "f1": 0.6}
VALIDATION = {
    "metric": "roc_auc",
    "test_rows": 1200,
    "previous_months": 5,
    "current": METRICS,
    "previous": {"roc_auc": 0.84, "f1": 0.61},
    "delta": {"roc_auc": 0.01, "f1": -0.01},
    "verdict": "better",
}
DRIFT = {"verdict": "drift", "drifted_features": ["monthly_charges"]}


@pytest.fixture()
def card() -> dict:
    return modelcard.build(
        lock=LOCK,
        params=PARAMS,
        metrics=METRICS,
        model_validation=VALIDATION,
        drift_result=DRIFT,
        commit="c0ffee",
        dirty=[],
        now=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    )


def test_card_records_lineage(card) -> None:
    assert card["model"]["md5"] == "m" * 32
    assert card["model"]["hyperparameters"] == {"C": 1.0}
    assert card["data"]["months"] == [1, 2, 3, 4, 5, 6]
    assert card["data"]["batches_md5"] == "a" * 32
    assert card["data"]["validated_table_md5"] == "r" * 32
    assert card["data"]["simulated_shifts_included"] == {"fibre_price_rise": 6}
    assert card["git"]["commit"] == "c0ffee"
    assert card["created"] == "2026-01-02T03:04:05+00:00"
    assert card["drift"] == DRIFT and card["params"] == PARAMS


def test_markdown_and_summary(card) -> None:
    text = modelcard.render(card)
    assert "months 1-6 of 7" in text and "fibre_price_rise (from month 6)" in text
    assert "| roc_auc | 0.84 | 0.85 | +0.010000 |" in text
    assert "Verdict: **drift** in monthly_charges." in text
    assert "from commit `c0ffee`." in text
    assert modelcard.summary(card) == (
        "months 1-6 of 7: roc_auc 0.85 (previous model 0.84: better); "
        "newest month: drift in monthly_charges"
    )


def test_uncommitted_changes_are_named(card) -> None:
    card["git"]["uncommitted_changes"] = ["params.yaml"]
    assert "with 1 uncommitted change(s): params.yaml." in modelcard.render(card)
