"""Behavioural tests of the trained model: invariance, direction, minimum function.

Each estimator is fitted once per session the way the `train` stage fits it
(`prepare.clean`, `prepare.split`, `train.train`, the params in params.yaml), on the
bundled data, and asked about the test split's real customers with one thing
changed. The model is handed whole rows, `customer_id` included, so that the
fitted pipeline itself must ignore what is not a feature.

Every check is run on wrecked models too (labels shuffled, a model that reads the
id, one that learned gender) and must fail there, so none of them holds by default.
The bounds come from measuring both estimators on the bundled data; each says what
was measured beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import Pipeline

from churn import config, contract
from churn.pipeline import train

ESTIMATORS = ("logistic_regression", "hist_gradient_boosting")
CONTRACTS = ("Month-to-month", "One year", "Two year")
#: Mean score per tenure must fall along these months (total charges follow along).
TENURES = (1, 12, 24, 48, 72)


@dataclass(frozen=True)
class Bounds:
    """How strictly each property holds for one estimator, per customer."""

    #: Largest change of any one customer's score when `female` flips.
    female_max: float
    #: Largest average absolute change when `female` flips.
    female_mean: float
    #: Least share of customers for whom a direction holds one by one.
    share: float
    #: Least share of obvious churners above 0.5 and of obvious stayers below 0.1.
    obvious: float


BOUNDS = {
    # A linear model: `female` is one coefficient, measured at most 0.008 on the
    # score, and every direction holds for every customer.
    "logistic_regression": Bounds(
        female_max=0.02, female_mean=0.01, share=1.0, obvious=1.0
    ),
    # Trees split on `female` inside small leaves (noise in 5,600 rows): one
    # customer's score moved by up to 0.20, the average by 0.016 (signed: 0.001),
    # so the bound is on the average. Directions held for 97-98% of customers one
    # by one (contract, fibre), as interactions may reverse them locally; 2 of 791
    # obvious stayers scored 0.11-0.12.
    "hist_gradient_boosting": Bounds(
        female_max=1.0, female_mean=0.025, share=0.95, obvious=0.99
    ),
}
#: Least average effect of a direction: a model that learned nothing moves < 0.01.
EFFECT = 0.03


def fit(train_df: pd.DataFrame, estimator: str, labels: pd.Series | None = None):
    """The `train` stage's model for `estimator`, on `labels` if given."""
    params = config.load_params()
    hyper = {**params["train"], "estimator": estimator}
    y = train_df[contract.TARGET] if labels is None else labels
    return train.train(
        train_df.drop(columns=[contract.TARGET]), y, params=hyper, seed=params["seed"]
    )


@pytest.fixture(scope="session")
def customers(splits) -> pd.DataFrame:
    """Real customers the models have not seen, as rows without the label."""
    return splits[1].drop(columns=[contract.TARGET]).reset_index(drop=True)


@pytest.fixture(scope="session")
def models(splits) -> dict[str, Pipeline]:
    """Each estimator fitted once on the train split."""
    return {name: fit(splits[0], name) for name in ESTIMATORS}


@pytest.fixture(scope="session")
def shuffled(splits) -> dict[str, Pipeline]:
    """Each estimator fitted on the train split's labels in a random order."""
    train_df = splits[0]
    labels = train_df[contract.TARGET]
    rng = np.random.default_rng(0)
    noise = pd.Series(rng.permutation(labels.to_numpy()), index=labels.index)
    return {name: fit(train_df, name, noise) for name in ESTIMATORS}


def scores(model: Pipeline, rows: pd.DataFrame) -> np.ndarray:
    """Churn probabilities of `rows`."""
    return model.predict_proba(rows)[:, 1]


# ------------------------------------------------------------------- the checks


def check_ignores_customer_id(model: Pipeline, rows: pd.DataFrame) -> None:
    """`customer_id` is not a feature: renumbering customers changes no score."""
    base = scores(model, rows)
    ids = rows[contract.ID]
    for changed in (ids.iloc[::-1].to_numpy(), ids + 1_000_000):
        assert np.array_equal(scores(model, rows.assign(customer_id=changed)), base)


def check_female_barely_matters(
    model: Pipeline, rows: pd.DataFrame, bounds: Bounds
) -> None:
    """Flipping `female` moves scores within the estimator's bounds."""
    flipped = rows.assign(female=1.0 - rows["female"])
    moved = np.abs(scores(model, flipped) - scores(model, rows))
    assert moved.max() < bounds.female_max, f"max change {moved.max():.3f}"
    assert moved.mean() < bounds.female_mean, f"mean change {moved.mean():.3f}"


def check_ordered(
    higher: np.ndarray, lower: np.ndarray, bounds: Bounds, what: str
) -> None:
    """`higher` is above `lower` on average by EFFECT, and customer by customer."""
    gap = higher - lower
    assert gap.mean() >= EFFECT, f"{what}: mean gap {gap.mean():.3f}"
    share = (gap > 0).mean()
    assert share >= bounds.share, f"{what}: holds for {share:.1%} of customers"


def check_contract_order(model: Pipeline, rows: pd.DataFrame, bounds: Bounds) -> None:
    """All else equal: month-to-month above one-year above two-year."""
    by = [scores(model, rows.assign(contract=c)) for c in CONTRACTS]
    check_ordered(by[0], by[1], bounds, "month-to-month over one year")
    check_ordered(by[1], by[2], bounds, "one year over two year")


def at_tenure(rows: pd.DataFrame, months: int) -> pd.DataFrame:
    """`rows` as if each customer had stayed `months`, billed as they are now."""
    return rows.assign(
        tenure=float(months), total_charges=rows["monthly_charges"] * months
    )


def check_tenure_lowers_churn(model: Pipeline, rows: pd.DataFrame) -> None:
    """All else equal, the average score falls with every step of tenure.

    On average, not per customer: boosted trees let it rise locally (measured:
    12 -> 48 months lowered 83% of the scores one by one).
    """
    means = [scores(model, at_tenure(rows, t)).mean() for t in TENURES]
    assert all(a > b for a, b in pairwise(means)), np.round(means, 3)
    # Measured: 0.40 -> 0.09 (logistic regression), 0.45 -> 0.06 (boosted trees).
    assert means[0] - means[-1] >= 4 * EFFECT, np.round(means, 3)


def check_fibre_above_dsl(model: Pipeline, rows: pd.DataFrame, bounds: Bounds) -> None:
    """All else equal, fibre optic scores above DSL, as the data says (42% of
    fibre customers churned, 19% of DSL ones)."""
    online = rows[rows["internet_service"].ne("No")]
    fibre = scores(model, online.assign(internet_service="Fiber optic"))
    dsl = scores(model, online.assign(internet_service="DSL"))
    check_ordered(fibre, dsl, bounds, "fibre over DSL")


def obvious_churners(rows: pd.DataFrame) -> pd.DataFrame:
    """Real fibre customers made new, month-to-month, paying by electronic check,
    without tech support or online security (with security, 4 of 630 scored
    0.46-0.50 under logistic regression: not obvious)."""
    fibre = rows[rows["internet_service"].eq("Fiber optic")]
    return at_tenure(fibre, 1).assign(
        contract="Month-to-month",
        payment_method="Electronic check",
        tech_support="No",
        online_security="No",
    )


def obvious_stayers(rows: pd.DataFrame) -> pd.DataFrame:
    """Real customers without internet or on DSL, on two-year contracts for 70
    months, paying automatically (bank transfer and credit card in turn)."""
    calm = rows[rows["internet_service"].ne("Fiber optic")]
    automatic = np.where(
        np.arange(len(calm)) % 2 == 0,
        "Bank transfer (automatic)",
        "Credit card (automatic)",
    )
    return at_tenure(calm, 70).assign(contract="Two year", payment_method=automatic)


def check_obvious_cases(model: Pipeline, rows: pd.DataFrame, bounds: Bounds) -> None:
    """Obvious churners score above 0.5 and obvious stayers below 0.1."""
    high = scores(model, obvious_churners(rows)) > 0.5
    low = scores(model, obvious_stayers(rows)) < 0.1
    assert high.mean() >= bounds.obvious, f"{high.mean():.1%} of churners over 0.5"
    assert low.mean() >= bounds.obvious, f"{low.mean():.1%} of stayers under 0.1"


# ------------------------------------------------------------ the trained models

Check = Callable[[Pipeline, pd.DataFrame, Bounds], None]


def alike(check: Callable[[Pipeline, pd.DataFrame], None]) -> Check:
    """`check`, which holds alike for every estimator, with the others' signature."""
    return lambda model, rows, _: check(model, rows)


#: Every property, by name, as a check of one model against its estimator's bounds.
CHECKS: dict[str, Check] = {
    "customer_id is ignored": alike(check_ignores_customer_id),
    "female barely matters": check_female_barely_matters,
    "longer contracts score lower": check_contract_order,
    "longer tenure scores lower": alike(check_tenure_lowers_churn),
    "fibre scores above DSL": check_fibre_above_dsl,
    "obvious churners and stayers": check_obvious_cases,
}
#: The properties a model that learned nothing must lack.
LEARNED = (
    "longer contracts score lower",
    "longer tenure scores lower",
    "fibre scores above DSL",
    "obvious churners and stayers",
)


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_trained_model_has_the_property(
    models, customers, estimator: str, check: str
) -> None:
    CHECKS[check](models[estimator], customers, BOUNDS[estimator])


def test_obvious_cases_are_many_real_customers(customers) -> None:
    assert len(obvious_churners(customers)) > 500
    assert len(obvious_stayers(customers)) > 500


# ------------------------------------------------------------- wrecked models


@pytest.mark.parametrize("check", LEARNED)
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_shuffled_labels_fail_the_checks(
    shuffled, customers, estimator: str, check: str
) -> None:
    with pytest.raises(AssertionError):
        CHECKS[check](shuffled[estimator], customers, BOUNDS[estimator])


def test_a_model_reading_the_id_fails_invariance(splits, customers) -> None:
    model = train.build(config.load_params()["train"], seed=0)
    columns = model.named_steps["features"].transformers
    name, scaler, numbers = columns[0]
    columns[0] = (name, scaler, [*numbers, contract.ID])
    train_df = splits[0]
    model.fit(train_df.drop(columns=[contract.TARGET]), train_df[contract.TARGET])
    with pytest.raises(AssertionError):
        check_ignores_customer_id(model, customers)


@pytest.mark.parametrize("bounds", BOUNDS.values(), ids=BOUNDS)
def test_a_model_that_learned_gender_fails_invariance(
    splits, customers, bounds: Bounds
) -> None:
    train_df = splits[0]
    gender = train_df["female"].astype("int64")
    model = fit(train_df, "logistic_regression", gender)
    with pytest.raises(AssertionError):
        check_female_barely_matters(model, customers, bounds)
