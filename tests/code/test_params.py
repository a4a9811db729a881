"""The params check: every value the stages read, against the code's own rules."""

import copy
import json

import pytest

from churn import config, stats
from churn.data import batches
from churn.pipeline import params, train

GOOD = config.load_params()


def _with(path: str, value) -> dict:
    out = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    section = out
    for key in parents:
        section = section[key]
    if value is params.MISSING:
        del section[last]
    else:
        section[last] = value
    return out


def test_the_committed_params_are_valid() -> None:
    assert params.check(GOOD) == []


@pytest.mark.parametrize(
    ("path", "value", "key", "rule"),
    [
        ("train.estimator", "xgboost", "train.estimator", str(list(train.ESTIMATORS))),
        ("prepare.test_size", 1.5, "prepare.test_size", "between 0 and 1"),
        ("prepare.test_size", "a fifth", "prepare.test_size", "a number above 0"),
        ("batches.through_month", 99, "batches.through_month", "from 1 to 7"),
        ("batches.through_month", 0, "batches.through_month", "(batches.months)"),
        ("batches.months", "seven", "batches.months", "a whole number at least 1"),
        (
            "batches.shifts.meteor",
            3,
            "batches.shifts.meteor",
            str(sorted(batches.SHIFTS)),
        ),
        (
            "batches.shifts.fibre_price_rise",
            8,
            "batches.shifts.fibre_price_rise",
            "to 7",
        ),
        ("batches.source", "nowhere.csv", "batches.source", "an existing file"),
        ("ingest.source", "nowhere.csv", "ingest.source", "an existing file"),
        ("seed", -1, "seed", "a whole number from 0"),
        ("seed", True, "seed", "a whole number"),
        (
            "train.logistic_regression.C",
            -1,
            "train.logistic_regression.C",
            "(0.0, inf]",
        ),
        (
            "train.logistic_regression.c",
            1,
            "train.logistic_regression.c",
            "not a parameter",
        ),
        (
            "train.hist_gradient_boosting.random_state",
            3,
            "train.hist_gradient_boosting.random_state",
            "set by `seed`",
        ),
        ("drift.block", "yes", "drift.block", "true or false"),
        ("drift.p_value", 1.0, "drift.p_value", "below 1"),
        ("drift.bins", 1, "drift.bins", "at least 2"),
        ("compare.metric", "log_loss", "compare.metric", "higher-is-better"),
        ("compare.tolerance", float("nan"), "compare.tolerance", "at least 0"),
        ("evaluate.threshold", 0, "evaluate.threshold", "above 0"),
        ("evaluate.importance_repeats", 0, "evaluate.importance_repeats", "at least 1"),
        (
            "evaluate.calibration_bins",
            params.MISSING,
            "evaluate.calibration_bins",
            "required",
        ),
        ("evaluate.colour", "red", "evaluate.colour", "not a key of evaluate"),
    ],
)
def test_a_bad_value_is_named_with_its_rule(path, value, key, rule) -> None:
    found = params.check(_with(path, value), exists=lambda p: p != "nowhere.csv")
    assert [p.key for p in found] == [key], found
    text = str(found[0])
    assert text.startswith(f"{key}: ") and rule in text
    shown = params.MISSING if value is params.MISSING else value
    if key == path and not isinstance(shown, float) and "shifts" not in key:
        assert repr(shown) in text


def test_the_rules_follow_the_code() -> None:
    # Another estimator, shift or month count changes the rules with it.
    higher = [m for m in stats.METRICS if stats.HIGHER_IS_BETTER[m]]
    assert params.check(_with("compare.metric", higher[-1])) == []
    assert params.check(_with("batches.months", 99)) == []
    fewer = params.check(_with("batches.months", 3))
    assert {p.key for p in fewer} == {
        "batches.through_month",
        "batches.shifts.fibre_price_rise",
        "batches.shifts.contract_promotion",
    }
    assert all("from 1 to 3 (batches.months)" in p.rule for p in fewer)
    assert params.check(_with("train.hist_gradient_boosting", None)) == []
    assert params.check(_with("train.estimator", "hist_gradient_boosting")) == []


def test_sections_no_stage_reads_are_left_to_their_readers() -> None:
    assert params.check(_with("gate.tolerance", "loose")) == []
    broken = params.check({"seed": 1})
    assert {p.key for p in broken} >= {"batches", "train", "evaluate"}
    assert params.check(["not", "a", "map"])[0].key == "params.yaml"


def test_entry_point_writes_its_mark_only_when_all_is_valid(
    tmp_path, monkeypatch, caplog
) -> None:
    mark = tmp_path / "params.json"
    monkeypatch.setattr(params.config, "PARAMS_CHECK", mark)
    bad = _with("train.estimator", "xgboost")
    monkeypatch.setattr(params.config, "load_params", lambda: bad)
    assert params.main([]) == 1
    assert not mark.exists()
    assert "train.estimator: 'xgboost' is not allowed: one of" in caplog.text
    monkeypatch.setattr(params.config, "load_params", lambda: GOOD)
    assert params.main([]) == 0
    assert json.loads(mark.read_text()) == {
        "checked": list(params.SECTIONS),
        "problems": 0,
    }


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"seed: 42\nbatches: [\n", 'in "{path}", line 3, column 1'),
        ("seed: 42\nnote: caf\u00e9\n".encode("latin-1"), "can't decode byte 0xe9"),
    ],
    ids=["no-yaml", "not-utf-8"],
)
def test_a_params_file_that_cannot_be_read_is_named_in_one_message(
    tmp_path, monkeypatch, caplog, content: bytes, said: str
) -> None:
    mark = tmp_path / "params.json"
    monkeypatch.setattr(params.config, "PARAMS_CHECK", mark)
    broken = tmp_path / "params.yaml"
    broken.write_bytes(content)
    load = params.config.load_params
    monkeypatch.setattr(params.config, "load_params", lambda: load(broken))
    assert params.main([]) == 1
    assert not mark.exists()
    assert "params.yaml: cannot read it; fix it, nothing has run" in caplog.text
    assert said.format(path=broken) in caplog.text
    assert "Traceback" not in caplog.text
