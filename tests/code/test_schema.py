"""The request schema is generated from the data contract and enforces it strictly."""

import json
import math

import jsonschema
import pytest
from pydantic import ValidationError

from churn import contract
from churn.delivery import schema
from churn.delivery.samples import request_rows
from delivery_helpers import bundled

Customer = schema.Customer


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return request_rows(bundled())


def _errors(data: dict) -> list[dict]:
    with pytest.raises(ValidationError) as info:
        Customer.model_validate(data)
    return info.value.errors(include_url=False)


def test_fields_are_the_contract_features_plus_an_optional_id() -> None:
    fields = Customer.model_fields
    assert list(fields) == [contract.ID, *contract.feature_names()]
    assert not fields[contract.ID].is_required()
    assert all(fields[name].is_required() for name in contract.feature_names())
    assert contract.TARGET not in fields


def test_json_schema_carries_the_contract_rules() -> None:
    props = schema.json_schema(25)["$defs"]["Customer"]["properties"]
    for col in contract.COLUMNS:
        if col.kind == "target":
            continue
        prop = props[col.name]
        if col.allowed is not None:
            assert prop["enum"] == list(col.allowed), col.name
        if col.kind in ("integer", "number") and not col.nullable:
            assert (prop.get("minimum"), prop.get("maximum")) == (
                col.minimum,
                col.maximum,
            )
        assert prop["description"] == col.why
    tc = props["total_charges"]["anyOf"]
    assert {"type": "null"} in tc
    assert schema.json_schema(25)["properties"]["customers"]["maxItems"] == 25


def test_every_real_customer_is_accepted(rows: list[dict]) -> None:
    request = schema.build_request_model(len(rows))
    assert len(request.model_validate({"customers": rows}).customers) == 7043


@pytest.mark.parametrize(
    ("change", "field", "kind"),
    [
        ({"tenure": 73}, "tenure", "less_than_equal"),
        ({"tenure": -1}, "tenure", "greater_than_equal"),
        ({"tenure": 12.5}, "tenure", "int_type"),
        ({"tenure": "12"}, "tenure", "int_type"),
        ({"monthly_charges": "70"}, "monthly_charges", "float_type"),
        ({"monthly_charges": 9.99}, "monthly_charges", "greater_than_equal"),
        ({"monthly_charges": float("nan")}, "monthly_charges", "finite_number"),
        ({"contract": "Weekly"}, "contract", "literal_error"),
        ({"contract": "month-to-month"}, "contract", "literal_error"),
        ({"female": 2}, "female", "literal_error"),
        ({"female": True}, "female", "flag_type"),
        ({"female": "1"}, "female", "literal_error"),
        ({"customer_id": 0}, "customer_id", "greater_than_equal"),
        ({"shoe_size": 42}, "shoe_size", "extra_forbidden"),
        ({"churn": "Yes"}, "churn", "extra_forbidden"),
    ],
)
def test_a_broken_rule_names_its_field(
    rows: list[dict], change: dict, field: str, kind: str
) -> None:
    errors = _errors({**rows[1], **change})
    assert [(e["loc"], e["type"]) for e in errors] == [((field,), kind)]


def test_missing_feature_is_named(rows: list[dict]) -> None:
    data = {k: v for k, v in rows[1].items() if k != "payment_method"}
    assert [(e["loc"], e["type"]) for e in _errors(data)] == [
        (("payment_method",), "missing")
    ]


def test_total_charges_may_be_null_only_before_the_first_bill(
    rows: list[dict],
) -> None:
    unbilled = next(r for r in rows if r["tenure"] == 0)
    assert unbilled["total_charges"] is None
    assert Customer.model_validate(unbilled).total_charges is None
    errors = _errors({**rows[1], "total_charges": None})
    assert errors[0]["loc"] == ("total_charges",)
    assert "tenure 0" in errors[0]["msg"]


def test_batch_size_is_checked_before_the_rows(rows: list[dict]) -> None:
    request = schema.build_request_model(3)
    with pytest.raises(ValidationError, match="empty_batch|is empty"):
        request.model_validate({"customers": []})
    # Four unparseable rows: only the size is reported, no row was validated.
    with pytest.raises(ValidationError) as info:
        request.model_validate({"customers": [{"junk": 1}] * 4})
    errors = info.value.errors(include_url=False)
    assert [e["type"] for e in errors] == ["batch_too_large"]
    assert "at most 3" in errors[0]["msg"]


def test_max_batch_comes_from_params() -> None:
    assert schema.max_batch({"serve": {"max_batch": 7}}) == 7
    assert schema.max_batch({}) == schema.DEFAULT_MAX_BATCH


def test_schema_command_writes_the_json_schema(tmp_path) -> None:
    out = tmp_path / "request.schema.json"
    assert schema.main(["--out", str(out)]) == 0
    written = json.loads(out.read_text())
    assert written["$defs"]["Customer"]["additionalProperties"] is False


# --- the whole-column check of a batch ------------------------------------------

#: Values that break, or test the edge of, some column's rule.
ODD_VALUES = (
    None,
    True,
    False,
    0,
    1,
    1.0,
    -1,
    72,
    73,
    10**20,
    12.5,
    float("nan"),
    float("inf"),
    "1",
    "Yes",
    "Weekly",
    "Month-to-month",
    [],
    {},
)


def _accepted(request, body) -> bool:
    try:
        request.model_validate(body)
    except ValidationError:
        return False
    return True


def test_column_check_takes_every_real_customer(rows: list[dict]) -> None:
    check = schema.ColumnCheck(len(rows))
    ids, columns = check.columns({"customers": rows})
    assert ids == [r["customer_id"] for r in rows]
    assert list(columns) == contract.feature_names()
    for name, values in columns.items():
        assert list(values) == [r[name] for r in rows], name
    without_ids = [{k: v for k, v in r.items() if k != contract.ID} for r in rows[:3]]
    assert check.columns({"customers": without_ids})[0] == [None] * 3


def test_column_check_never_takes_what_the_request_model_refuses(
    rows: list[dict],
) -> None:
    # Every column set to every odd value, in a batch of three customers (one not
    # yet billed): the check may decline a valid body, never accept an invalid one.
    limit = 3
    request = schema.build_request_model(limit)
    check = schema.ColumnCheck(limit)
    unbilled = next(r for r in rows if r["tenure"] == 0)
    batch = [rows[1], rows[2], unbilled]
    bodies = []
    for name in [contract.ID, *contract.feature_names()]:
        for value in ODD_VALUES:
            for at in (0, 2):
                changed = [dict(r) for r in batch]
                changed[at][name] = value
                bodies.append({"customers": changed})
        bodies.append({"customers": [{k: v for k, v in rows[1].items() if k != name}]})
    bodies += [
        {"customers": [dict(rows[1], shoe_size=42)]},
        {"customers": [rows[1]] * (limit + 1)},
        {"customers": []},
        {"customers": rows[1]},
        {"customers": [rows[1]], "extra": 1},
        {"customers": ["a row"]},
        [rows[1]],
        None,
    ]
    taken = refused = 0
    for body in bodies:
        valid = _accepted(request, body)
        if check.columns(body) is not None:
            assert valid, body
            taken += 1
        refused += not valid
    # Both sides were exercised: the check cleared valid bodies, the model refused
    # many invalid ones, and the check declined each of those.
    assert taken > 50 and refused > 200


# --- the published schema says exactly what the request model takes ------------


@pytest.mark.parametrize(
    ("change", "taken"),
    [
        ({"tenure": 12.0}, {"tenure": 12}),
        ({"customer_id": 64.0}, {"customer_id": 64}),
        ({"female": 1.0}, {"female": 1}),
        ({"customer_id": 2**63 - 1}, {"customer_id": 2**63 - 1}),
    ],
)
def test_integer_fields_take_what_json_schema_calls_an_integer(
    rows: list[dict], change: dict, taken: dict
) -> None:
    customer = Customer.model_validate({**rows[1], **change})
    for name, value in taken.items():
        got = getattr(customer, name)
        assert (got, type(got)) == (value, int), name


def test_ids_beyond_64_bits_are_refused_as_integers(rows: list[dict]) -> None:
    [error] = _errors({**rows[1], "customer_id": 2**64})
    assert error["type"] == "less_than_equal" and error["input"] == 2**64


def test_the_json_schema_and_the_request_model_agree(rows: list[dict]) -> None:
    # Every field set to every odd value JSON can carry: the published schema and
    # the request model take and refuse the same bodies.
    validator = jsonschema.Draft202012Validator(schema.json_schema(3))
    unbilled = next(r for r in rows if r["tenure"] == 0)
    odd = [v for v in ODD_VALUES if not isinstance(v, float) or math.isfinite(v)]
    odd += [64.0, 0.0, -0.0, 2**63, 2**63 - 1, 1e300]
    request = schema.build_request_model(3)
    bodies = [{"customers": [rows[1], unbilled]}, {"customers": []}]
    bodies.append({"customers": [rows[1]] * 4})
    for name in [contract.ID, *contract.feature_names()]:
        for value in odd:
            for base in (rows[1], unbilled):
                bodies.append({"customers": [{**base, name: value}]})
    disagree = [b for b in bodies if validator.is_valid(b) != _accepted(request, b)]
    assert disagree == []
    assert sum(map(validator.is_valid, bodies)) > 50


def test_column_check_declines_a_repeated_key(rows: list[dict]) -> None:
    check = schema.ColumnCheck(3)
    text = json.dumps({"customers": [rows[1]]})
    assert check.columns(json.loads(text), text.count(":")) is not None
    twice = text.replace('"tenure": ', '"tenure": 3, "tenure": ', 1)
    assert check.columns(json.loads(twice), twice.count(":")) is None
