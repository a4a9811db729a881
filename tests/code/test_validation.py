"""Validation of a request body does bounded work and words a bounded answer."""

import json

import pytest

from churn.delivery import validation
from churn.delivery.samples import request_rows
from delivery_helpers import bundled


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return request_rows(bundled().head(3))


def test_valid_customers_come_back_as_models(rows: list[dict]) -> None:
    out = validation.validate({"customers": rows}, limit=3, max_errors=5)
    assert out.total == 0 and out.errors == []
    assert [c.customer_id for c in out.customers] == [r["customer_id"] for r in rows]


def test_every_error_is_counted_and_a_few_listed() -> None:
    out = validation.validate({"customers": [{}] * 1000}, limit=1000, max_errors=7)
    assert out.total == 1000 * 19 and len(out.errors) == 7
    assert out.customers == []
    answer = validation.answer(out.errors, out.total)
    assert answer["error_count"] == 19_000 and len(answer["detail"]) == 7
    assert answer["message"].endswith("; and 18,995 more error(s)")
    assert len(json.dumps(answer)) < 3000


def test_unknown_keys_are_counted_not_all_validated(rows: list[dict]) -> None:
    many = {f"k{i}": i for i in range(50_000)}
    for body in ({"customers": [{**rows[0], **many}]}, {"customers": rows, **many}):
        out = validation.validate(body, limit=3, max_errors=4)
        assert out.total == 50_000 and len(out.errors) == 4
        assert {e["type"] for e in out.errors} == {"extra_forbidden"}


@pytest.mark.parametrize(
    ("body", "kind", "field"),
    [
        ([1], "model_type", "body"),
        ("text", "model_type", "body"),
        ({}, "missing", "customers"),
        ({"customers": {}}, "list_type", "customers"),
        ({"customers": []}, "empty_batch", "customers"),
        ({"customers": [{}] * 4}, "batch_too_large", "customers"),
        ({"customers": [["row"]]}, "model_type", "customers[0]"),
    ],
)
def test_the_shape_of_the_body_is_checked_first(body, kind: str, field: str) -> None:
    out = validation.validate(body, limit=3, max_errors=5)
    assert out.total == 1
    [detail] = validation.describe(out.errors)
    assert (detail["type"], detail["field"]) == (kind, field)
    assert "input" not in detail


def test_an_echoed_value_is_safe_to_encode(rows: list[dict]) -> None:
    # A lone surrogate in a value is echoed escaped; in a key, pydantic refuses
    # the customer as a whole. Either way the answer encodes as UTF-8.
    value = {"customers": [{**rows[0], "contract": "\ud800" * 500}]}
    key = {"customers": [{**rows[0], "\udc00": 1}]}
    fields = []
    for body in (value, key):
        out = validation.validate(body, limit=3, max_errors=5)
        answer = validation.answer(out.errors, out.total)
        json.dumps(answer, ensure_ascii=False).encode("utf-8")
        [detail] = answer["detail"]
        fields.append(detail["field"])
        assert "\\ud" in answer["message"]
    assert fields == ["customers[0].contract", "customers[0]"]
    out = validation.validate(value, limit=3, max_errors=5)
    [detail] = validation.describe(out.errors)
    assert detail["input"] == "\\ud800" * 80 + "..."
