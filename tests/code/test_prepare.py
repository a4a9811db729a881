"""Cleaning and splitting."""

import pandas as pd
import pytest

from churn import contract
from churn.pipeline import prepare


def test_clean_fills_unbilled_and_encodes_target(tiny: pd.DataFrame) -> None:
    out = prepare.clean(tiny)
    assert out.loc[0, "total_charges"] == 0.0
    assert out["total_charges"].notna().all()
    assert out[contract.TARGET].tolist() == [0, 1, 1, 0, 0, 0]
    assert tiny["total_charges"].isna().sum() == 1, "the input is not modified"


def test_clean_names_a_missing_column(tiny: pd.DataFrame) -> None:
    with pytest.raises(KeyError, match="tenure"):
        prepare.clean(tiny.drop(columns=["tenure"]))


def test_split_is_deterministic_and_about_the_asked_size(table: pd.DataFrame) -> None:
    data = prepare.clean(table)
    train, test = prepare.split(data, test_size=0.2, seed=7)
    again, _ = prepare.split(data, test_size=0.2, seed=7)
    assert len(train) + len(test) == len(data)
    assert abs(len(test) / len(data) - 0.2) < 0.015
    assert train.equals(again)
    assert set(train[contract.ID]).isdisjoint(test[contract.ID])
    share = data[contract.TARGET].mean()
    assert abs(test[contract.TARGET].mean() - share) < 0.02


def test_a_customer_keeps_its_side_as_months_arrive(table: pd.DataFrame) -> None:
    data = prepare.clean(table)
    _, early = prepare.split(data.head(3000), test_size=0.2, seed=7)
    _, later = prepare.split(data, test_size=0.2, seed=7)
    assert set(early[contract.ID]) == set(later[contract.ID]) & set(
        data.head(3000)[contract.ID]
    )
    _, other_seed = prepare.split(data, test_size=0.2, seed=8)
    assert set(other_seed[contract.ID]) != set(later[contract.ID])


def test_split_rejects_bad_test_size(tiny: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="test_size"):
        prepare.split(prepare.clean(tiny), test_size=1.5, seed=0)


def test_clean_passes_the_month_through(tiny: pd.DataFrame) -> None:
    tagged = tiny.assign(**{contract.MONTH: pd.array([1, 1, 2, 2, 3, 3], "Int64")})
    out = prepare.clean(tagged)
    assert out[contract.MONTH].equals(tagged[contract.MONTH])
    assert contract.MONTH not in contract.feature_names()
