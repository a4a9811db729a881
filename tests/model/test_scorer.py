"""The fast scorer gives the fitted pipeline's own probabilities, to 1e-9."""

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder

from churn import contract
from churn.data import cleaning
from churn.delivery import schema, scorer
from churn.delivery.samples import request_rows
from delivery_helpers import bundled, fitted, reference_proba

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return request_rows(bundled())


@pytest.mark.parametrize("estimator", ["logistic_regression", "hist_gradient_boosting"])
def test_batch_matches_the_pipeline_on_every_real_customer(
    rows: list[dict], estimator: str
) -> None:
    model = fitted(estimator)
    fast = scorer.Scorer(model).proba(rows)
    expected = reference_proba(model, bundled())
    assert fast.shape == (7043,)
    np.testing.assert_allclose(fast, expected, rtol=0, atol=TOLERANCE)


def test_single_rows_match_the_pipeline(rows: list[dict]) -> None:
    model = fitted()
    fast = scorer.Scorer(model)
    # Every not-yet-billed customer, and a spread of the others.
    picked = [i for i, r in enumerate(rows) if r["tenure"] == 0] + list(
        range(0, len(rows), 97)
    )
    single = np.array([fast.proba([rows[i]])[0] for i in picked])
    expected = reference_proba(model, bundled().iloc[picked])
    np.testing.assert_allclose(single, expected, rtol=0, atol=TOLERANCE)


def test_encoding_equals_the_column_transformer(rows: list[dict]) -> None:
    model = fitted()
    encoded = scorer.Scorer(model).encode(rows[:200])

    table = cleaning.clean(bundled().iloc[:200])[contract.feature_names()]
    expected = model.named_steps["features"].transform(table)
    np.testing.assert_allclose(encoded, expected, rtol=0, atol=1e-12)


def test_unknown_category_encodes_as_zeros_like_sklearn(rows: list[dict]) -> None:
    model = fitted()
    row = {**rows[1], "payment_method": "Bitcoin"}
    fast = scorer.Scorer(model).proba([row])
    slow = scorer.SklearnScorer(model).proba([row])
    np.testing.assert_allclose(fast, slow, rtol=0, atol=TOLERANCE)


def test_unsupported_pipeline_falls_back_to_sklearn(rows: list[dict]) -> None:
    numbers = contract.features_of("integer", "number", "flag")
    categories = contract.features_of("category")
    features = ColumnTransformer(
        [
            ("numbers", MinMaxScaler(), numbers),
            ("categories", OneHotEncoder(handle_unknown="ignore"), categories),
        ]
    )
    model = Pipeline([("features", features), ("model", LogisticRegression())])

    table = cleaning.clean(bundled().head(500))
    model.fit(table[contract.feature_names()], table[contract.TARGET])
    with pytest.raises(scorer.NotCompilable, match="MinMaxScaler"):
        scorer.Scorer(model)
    chosen = scorer.from_model(model)
    assert isinstance(chosen, scorer.SklearnScorer)
    np.testing.assert_allclose(
        chosen.proba(rows[:50]),
        reference_proba(model, bundled().head(50)),
        rtol=0,
        atol=TOLERANCE,
    )


@pytest.mark.parametrize("kind", ["Scorer", "SklearnScorer"])
def test_columns_from_the_request_check_score_like_the_pipeline(
    rows: list[dict], kind: str
) -> None:
    # The service scores what schema.ColumnCheck hands it, column by column; both
    # scorers must give the pipeline's probabilities from it, for one row too.
    model = fitted()
    chosen = getattr(scorer, kind)(model)
    picked = [i for i, r in enumerate(rows) if r["tenure"] == 0][:2] + list(
        range(0, len(rows), 211)
    )
    check = schema.ColumnCheck(len(picked))
    for batch in (picked, picked[:1], picked[-1:]):
        _, columns = check.columns({"customers": [rows[i] for i in batch]})
        np.testing.assert_allclose(
            chosen.proba_columns(columns),
            reference_proba(model, bundled().iloc[batch]),
            rtol=0,
            atol=TOLERANCE,
        )
