"""Drift scores on synthetic inputs with a known answer."""

import logging
import math

import numpy as np
import pandas as pd
import pytest

from churn import contract, split
from churn.pipeline import drift, profile


def test_identical_distributions_give_zero() -> None:
    values = pd.Series(np.linspace(0, 1, 1000))
    score = profile.feature_drift(values, values.copy(), numeric=True, bins=10)
    assert score["psi"] == 0.0 and score["statistic"] == 0.0 and score["p_value"] == 1
    levels = pd.Series(["a", "b", "c"] * 100)
    score = profile.feature_drift(levels, levels.copy(), numeric=False, bins=10)
    assert score["psi"] == 0.0 and score["p_value"] == 1.0


def test_category_shift_gives_the_textbook_psi() -> None:
    # Shares 50/50 become 75/25: PSI = 0.25 ln 1.5 + 0.25 ln 2.
    reference = pd.Series(["a"] * 500 + ["b"] * 500)
    current = pd.Series(["a"] * 750 + ["b"] * 250)
    score = profile.feature_drift(reference, current, numeric=False, bins=10)
    assert score["psi"] == pytest.approx(
        0.25 * math.log(1.5) + 0.25 * math.log(2), abs=1e-6
    )
    assert score["test"] == "chi2" and score["p_value"] < 1e-10


def test_numeric_shift_gives_the_expected_psi_and_ks() -> None:
    # Uniform values moved up by one decile: the lowest bin empties (epsilon share)
    # and the top bin doubles; KS statistic is the shift.
    reference = pd.Series(np.arange(1000) / 1000)
    current = reference + 0.1
    score = profile.feature_drift(reference, current, numeric=True, bins=10)
    eps = profile.EPSILON
    expected = (eps - 0.1) * math.log(eps / 0.1) + 0.1 * math.log(2)
    assert score["psi"] == pytest.approx(expected, abs=1e-4)
    assert score["test"] == "ks" and score["statistic"] == pytest.approx(0.1, abs=0.002)


def test_new_category_level_is_scored_not_dropped() -> None:
    reference = pd.Series(["a"] * 100)
    current = pd.Series(["a"] * 50 + ["z"] * 50)
    ref, cur = profile.category_counts(reference, current)
    assert ref.tolist() == [100, 0] and cur.tolist() == [50, 50]
    assert profile.psi_from_counts(ref, cur) > 1


def _frame(rng: np.random.Generator, n: int, *, charges_shift: float) -> pd.DataFrame:
    out = {"customer_id": np.arange(n)}
    for name in contract.features_of("flag"):
        out[name] = rng.integers(0, 2, n).astype(float)
    for name in contract.features_of("category"):
        out[name] = rng.choice(list(contract.column(name).allowed), n)
    out["tenure"] = rng.integers(0, 73, n).astype(float)
    out["monthly_charges"] = rng.uniform(20, 110, n) * (1 + charges_shift)
    out["total_charges"] = out["monthly_charges"] * out["tenure"]
    return pd.DataFrame(out)


def test_detect_names_the_shifted_feature_only() -> None:
    rng = np.random.default_rng(0)
    reference = _frame(rng, 3000, charges_shift=0)
    same = _frame(rng, 1000, charges_shift=0)
    dearer = _frame(rng, 1000, charges_shift=0.25)
    knobs = {"psi_threshold": 0.2, "p_value": 0.001, "bins": 10}
    calm = drift.detect(reference, same, **knobs)
    assert calm["verdict"] == "no drift" and calm["drifted_features"] == []
    found = drift.detect(reference, dearer, **knobs)
    assert found["verdict"] == "drift"
    assert "monthly_charges" in found["drifted_features"]
    assert found["features"]["monthly_charges"]["psi"] >= 0.2
    assert found["features"]["contract"]["drift"] is False


def test_metrics_keep_the_verdict_and_plot_keeps_the_features() -> None:
    rng = np.random.default_rng(1)
    result = drift.detect(
        _frame(rng, 2000, charges_shift=0),
        _frame(rng, 800, charges_shift=0.3),
        psi_threshold=0.2,
        p_value=0.001,
        bins=10,
    )
    rows = drift.plot_rows(result["features"], 0.2)
    assert {r["threshold"] for r in rows} == {0.2}
    assert rows[0]["feature"] == "monthly_charges"
    assert [r["psi"] for r in rows] == sorted((r["psi"] for r in rows), reverse=True)
    assert {r["feature"] for r in rows} == set(contract.feature_names())
    metrics = drift.as_metrics({"month": 2, "block": False} | result)
    assert list(metrics) == [
        "month",
        "verdict",
        "drifted",
        "drifted_features",
        "thresholds",
        "reference_rows",
        "current_rows",
    ]
    assert "monthly_charges" in metrics["drifted_features"]
    assert metrics["thresholds"]["psi"] == 0.2


def test_reference_is_earlier_months_training_rows() -> None:
    table = pd.DataFrame(
        {
            contract.ID: pd.array(range(1, 201), dtype="Int64"),
            contract.MONTH: pd.array([1] * 100 + [2] * 50 + [3] * 50, dtype="Int64"),
        }
    )
    reference, current = drift.split_reference(table, month=3, test_size=0.2, seed=42)
    assert current[contract.ID].tolist() == list(range(151, 201))
    assert reference[contract.ID].max() <= 150
    test = split.is_test(reference[contract.ID], test_size=0.2, seed=42)
    assert not test.any() and 90 < len(reference) < 150


def test_empty_input_is_refused() -> None:
    with pytest.raises(ValueError, match="rows in both"):
        drift.detect(
            pd.DataFrame(), pd.DataFrame(), psi_threshold=0.2, p_value=0.01, bins=10
        )


def test_a_profile_read_back_from_json_scores_as_the_samples_do() -> None:
    # The package carries the profile as JSON: it must judge exactly as the data.
    import json

    rng = np.random.default_rng(2)
    reference = _frame(rng, 1500, charges_shift=0)
    current = _frame(rng, 700, charges_shift=0.2)
    stored = json.loads(json.dumps(profile.build(reference, bins=10)))
    from_json = profile.compare(stored, current, psi_threshold=0.2, p_value=0.001)
    direct = drift.detect(reference, current, psi_threshold=0.2, p_value=0.001, bins=10)
    assert from_json == direct["features"]
    # A flag held as 1.0 or as 1 is the same level.
    as_ints = current.assign(partner=current["partner"].astype(int))
    assert profile.compare(stored, as_ints, psi_threshold=0.2, p_value=0.001) == (
        from_json
    )


def test_a_number_with_many_distinct_values_keeps_max_points_quantiles() -> None:
    values = pd.Series(np.random.default_rng(3).normal(size=20_000))
    entry = profile.number_profile(values, bins=10)
    assert len(entry["values"]) == profile.MAX_POINTS == sum(entry["weights"])
    assert entry["rows"] == 20_000 and sum(entry["counts"]) == 20_000
    # The KS statistic against the quantiles stays within 1/MAX_POINTS of the exact.
    shifted = values + 0.05
    exact = profile.feature_drift(values, shifted, numeric=True, bins=10)["statistic"]
    sketch = profile.score_feature(entry, shifted)
    assert abs(sketch["statistic"] - exact) <= 1 / profile.MAX_POINTS + 1e-6
    # A sample of MAX_POINTS instead of 20,000: the p-value is the more cautious.
    assert (
        sketch["p_value"]
        >= profile.feature_drift(values, shifted, numeric=True, bins=10)["p_value"]
    )


def test_a_month_without_rows_is_refused() -> None:
    table = pd.DataFrame(
        {contract.ID: pd.array([1, 2], dtype="Int64"), contract.MONTH: [1, 1]}
    )
    with pytest.raises(ValueError, match="no row of month 2"):
        drift.split_reference(table, month=2, test_size=0.2, seed=42)


KNOBS = {"psi_threshold": 0.2, "p_value": 0.001, "bins": 10, "block": False}


def _scored(shift: float, *, block: bool = False) -> dict:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {name: rng.integers(0, 2, 400) for name in contract.feature_names()}
    )
    frame["monthly_charges"] = rng.normal(50, 10, 400)
    current = frame.assign(monthly_charges=frame["monthly_charges"] + shift)
    return drift.score_month(frame, current, month=5, knobs=KNOBS | {"block": block})


def test_first_month_has_no_reference_and_is_a_warning() -> None:
    rows = pd.DataFrame({name: [0] for name in contract.feature_names()})
    result = drift.score_month(rows.head(0), rows, month=1, knobs=KNOBS)
    assert result["verdict"] == "no reference" and result["features"] == {}
    code, level, message = drift.outcome(result)
    assert (code, level) == (0, logging.WARNING)
    assert message == "month 1 is the first month: nothing to compare it with"


def test_outcome_passes_a_steady_month_and_warns_on_drift() -> None:
    steady = _scored(0.0)
    assert steady["verdict"] == "no drift" and steady["month"] == 5
    assert drift.outcome(steady) == (
        0,
        logging.INFO,
        f"month 5: no drift in {len(contract.feature_names())} features",
    )
    code, level, message = drift.outcome(_scored(30.0))
    assert (code, level) == (0, logging.WARNING)
    assert message.startswith("month 5 drifted from the training data in ")
    assert "monthly_charges (PSI " in message and "ks p<1e-06)" in message


def test_outcome_stops_the_pipeline_only_when_drift_blocks() -> None:
    code, level, message = drift.outcome(_scored(30.0, block=True))
    assert (code, level) == (1, logging.ERROR)
    assert "drift.block is true, so the pipeline stops before training" in message
    assert drift.outcome(_scored(0.0, block=True))[0] == 0
