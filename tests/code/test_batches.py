"""Monthly batches: the arrival rule, the simulated shifts and `next-month`."""

import pandas as pd
import pytest

from churn import cli, contract
from churn.data import batches, ingest
from conftest import SOURCE

SHIFTS = {"fibre_price_rise": 6, "contract_promotion": 7}


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return ingest.read_csv_text(SOURCE)


def test_months_are_near_equal_blocks_in_id_order() -> None:
    ids = pd.Series([5, 1, 4, 2, 3, 6, 7])
    assert batches.assign_months(ids, 3).tolist() == [2, 1, 2, 1, 1, 3, 3]


def test_bad_month_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        batches.assign_months(pd.Series([1, 2]), 0)
    with pytest.raises(ValueError, match="cannot cut 2 rows"):
        batches.assign_months(pd.Series([1, 2]), 3)


def test_every_month_of_the_bundled_data_clears_the_row_floor(raw) -> None:
    sizes = batches.assign_months(raw[contract.ID], 7).value_counts()
    assert sorted(sizes.index) == list(range(1, 8))
    assert sizes.min() >= contract.MIN_ROWS and sizes.sum() == len(raw)


def test_select_returns_the_newest_month_and_all_months(raw) -> None:
    latest, included = batches.select(raw, months=7, through_month=3, shifts=SHIFTS)
    ids = pd.to_numeric(included[contract.ID])
    assert ids.is_monotonic_increasing and len(included) == 3019
    assert latest.equals(included.tail(len(latest)).reset_index(drop=True))
    assert list(included.columns) == contract.names()
    # Months before any shift are the upstream rows, text for text.
    upstream = raw.set_index(contract.ID).loc[included[contract.ID]].reset_index()
    assert included.equals(upstream[contract.names()])


def test_fibre_price_rise_changes_fibre_bills_only(raw) -> None:
    before, _ = batches.select(raw, months=7, through_month=6, shifts={})
    after, _ = batches.select(raw, months=7, through_month=6, shifts=SHIFTS)
    fibre = before["internet_service"].eq("Fiber optic")
    old = pd.to_numeric(before["monthly_charges"])
    new = pd.to_numeric(after["monthly_charges"])
    assert (new[fibre] - (old[fibre] * 1.25).round(2)).abs().max() < 0.006
    assert new[~fibre].equals(old[~fibre])
    assert after["total_charges"].equals(before["total_charges"])
    assert new.max() <= contract.column("monthly_charges").maximum


def test_shifts_start_in_their_month_and_persist(raw) -> None:
    month6, _ = batches.select(raw, months=7, through_month=6, shifts=SHIFTS)
    month7, _ = batches.select(raw, months=7, through_month=7, shifts=SHIFTS)
    plain7, _ = batches.select(raw, months=7, through_month=7, shifts={})
    assert month6["contract"].value_counts()["Two year"] < 300
    moved = plain7["contract"].eq("Month-to-month") & month7["contract"].eq("Two year")
    share = moved.sum() / plain7["contract"].eq("Month-to-month").sum()
    assert 0.35 < share < 0.45
    assert not pd.to_numeric(month7["monthly_charges"]).equals(
        pd.to_numeric(plain7["monthly_charges"])
    ), "the price rise of month 6 is still there in month 7"


def test_select_rejects_unknown_shift_and_month(raw) -> None:
    with pytest.raises(ValueError, match="unknown shift"):
        batches.select(raw, months=7, through_month=2, shifts={"meteor": 1})
    with pytest.raises(ValueError, match="between 1 and 7"):
        batches.select(raw, months=7, through_month=8, shifts={})


PARAMS = """\
seed: 42
batches:
  months: 7
  # keep me
  through_month: 4   # the months in
train:
  through_month: 1
"""


def test_advance_edits_one_line_and_keeps_comments() -> None:
    text, new = batches.advance(PARAMS, 7)
    assert new == 5
    assert text == PARAMS.replace("through_month: 4 ", "through_month: 5 ")


def test_advance_stops_after_the_last_month() -> None:
    with pytest.raises(batches.NoNewMonth, match="all 4 months are already included"):
        batches.advance(PARAMS, 4)
    with pytest.raises(ValueError, match="no batches.through_month"):
        batches.advance("seed: 1\n", 7)


def test_next_month_command_rewrites_params(tmp_path, caplog) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    assert cli.main(["next-month", "--params", str(params)]) == 0
    assert "through_month: 5 " in params.read_text()
    last = PARAMS.replace("through_month: 4", "through_month: 7")
    params.write_text(last)
    # Nothing new is not a failure: the file stays as it was.
    assert cli.main(["next-month", "--params", str(params)]) == 0
    assert params.read_text() == last
    assert "no new month of data: all 7 months are already included" in caplog.text
    params.write_text("batches:\n  months: 7\n")
    assert cli.main(["next-month", "--params", str(params)]) == 1
