"""Validation of a parsed request body with bounded work, and the 422 it words.

A body the column check cannot clear is validated here, customer by customer with
`schema.Customer`, so that each customer costs about as much as its own fields:
a customer with thousands of unknown keys has at most `max_errors` of them looked
at, and the rest are only counted. Every error is counted; at most `max_errors`
are described, so the answer has a bounded size whatever the request.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ValidationError

from churn.delivery import schema
from churn.delivery.body import safe_text

#: How many field errors the one-line `message` of a 422 spells out.
MESSAGE_ERRORS = 5

Error = dict[str, Any]


class Outcome:
    """The valid customers, or up to `max_errors` errors and how many there were."""

    def __init__(self, max_errors: int) -> None:
        self.max_errors = max_errors
        self.customers: list[BaseModel] = []
        self.errors: list[Error] = []
        self.total = 0

    def add(self, errors: list[Error], count: int | None = None) -> None:
        """Record `count` errors (default: all of `errors`), keeping the first few."""
        self.total += len(errors) if count is None else count
        kept = errors[: max(0, self.max_errors - len(self.errors))]
        self.errors += [_light(error) for error in kept]


def _light(error: Error) -> Error:
    """`error` with an empty array or object of the same type as its `input` when
    that is one: a 422 quotes only scalar inputs and names the type of others.

    The checking process sends its outcome back to the service, which unpickles it
    in its own interpreter: an array of 4,000,000 numbers carried along as the
    input of one error took 0.14 s there, and held `/health` up meanwhile.
    """
    value = error.get("input")
    if isinstance(value, list | dict) and value:
        return {**error, "input": type(value)()}
    return error


def _extra(key: str, value: Any) -> Error:
    return {
        "type": "extra_forbidden",
        "loc": ("body", key),
        "msg": "Extra inputs are not permitted",
        "input": value,
    }


def validate(body: Any, *, limit: int, max_errors: int) -> Outcome:
    """Validate `body` as a `POST /predict` request of at most `limit` customers."""
    out = Outcome(max_errors)
    if type(body) is not dict:
        got = type(body).__name__
        out.add([{"type": "model_type", "loc": ("body",), "msg": got, "input": body}])
        return out
    extras = [key for key in body if key != "customers"]
    out.add([_extra(k, body[k]) for k in extras[:max_errors]], len(extras))
    if "customers" not in body:
        out.add(
            [{"type": "missing", "loc": ("body", "customers"), "msg": "Field required"}]
        )
        return out
    rows = body["customers"]
    if type(rows) is not list:
        try:
            schema.build_request_model(limit).model_validate({"customers": rows})
        except ValidationError as exc:
            out.add(exc.errors(include_url=False))
        return out
    refused = schema.batch_size_error(len(rows), limit)
    if refused is not None:
        error = {"loc": ("body", "customers"), "input": rows, "ctx": refused.context}
        out.add([{**error, "type": refused.type, "msg": refused.message()}])
        return out
    fields = schema.Customer.model_fields
    for i, row in enumerate(rows):
        dropped = 0
        if type(row) is dict and len(row) > len(fields):
            # Only the first unknown keys are validated; the rest are counted.
            unknown = [k for k in row if k not in fields]
            keep = {k for k in row if k in fields} | set(unknown[:max_errors])
            dropped = len(unknown) - min(len(unknown), max_errors)
            row = {k: v for k, v in row.items() if k in keep}
        try:
            customer = schema.Customer.model_validate(row)
        except ValidationError as exc:
            room = max(0, max_errors - len(out.errors))
            errors = exc.errors(include_url=False)[:room] if room else []
            for error in errors:
                error["loc"] = ("body", "customers", i, *error["loc"])
            out.add(errors, exc.error_count() + dropped)
            continue
        out.total += dropped
        if not out.total:
            out.customers.append(customer)
    return out


def too_many_keys(colons: int, most: int, limit: int) -> Outcome:
    """The refusal of a body with `colons` ':' when a full batch has `most` keys."""
    # Counted before parsing: parsing it would cost more than a full batch.
    outcome = Outcome(1)
    message = (
        f"holds {colons:,} ':' characters: a request of at most {limit:,} customers "
        f"(serve.max_batch) has at most {most:,} keys, one ':' each, and no other"
    )
    outcome.add([{"type": "too_many_keys", "loc": ("body",), "msg": message}])
    return outcome


def field_name(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a path a person reads: customers[0].tenure."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return safe_text(text.lstrip("."), 120) or "body"


#: Errors about the request as a whole, and the field each one is about.
_WHOLE_BODY = {"empty_batch": "customers", "batch_too_large": "customers"}


def _message(error: Error, field: str) -> str:
    kind = error["type"]
    if kind == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", "")
        return f"not valid JSON: {detail} at character {error['loc'][-1]}"
    if field == "body" and kind == "missing":
        return 'a JSON body {"customers": [...]} is required'
    if field == "body" and kind in ("model_type", "model_attributes_type", "dict_type"):
        got = type(error.get("input")).__name__
        return f'must be a JSON object {{"customers": [...]}}, got {got}'
    return safe_text(error["msg"], 200)


def describe(errors: list[Error]) -> list[Error]:
    """Validation errors as {field, message, type[, input]}, clear enough to act on."""
    out = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        kind = error["type"]
        field = "body" if kind == "json_invalid" else field_name(loc)
        field = _WHOLE_BODY.get(kind, field)
        entry = {"field": field, "message": _message(error, field), "type": kind}
        value = error.get("input")
        scalar = value is None or isinstance(value, bool | int | float | str)
        if scalar and kind not in ("missing", "json_invalid") and field != "body":
            if isinstance(value, float) and not math.isfinite(value):
                value = str(value)  # JSON has no NaN or infinity to echo it with
            entry["input"] = safe_text(value) if isinstance(value, str) else value
        out.append(entry)
    return out


def summary(details: list[Error], total: int | None = None) -> str:
    """One line naming the first few offending fields and what is wrong with each."""
    parts = []
    for d in details[:MESSAGE_ERRORS]:
        got = f" (got {d['input']!r})" if "input" in d else ""
        parts.append(f"{d['field']}: {d['message']}{got}")
    more = (len(details) if total is None else total) - len(parts)
    return "; ".join(parts) + (f"; and {more:,} more error(s)" if more > 0 else "")


def answer(errors: list[Error], total: int) -> dict[str, Any]:
    """The body of a 422: a one-line summary, the first errors, how many in all."""
    details = describe(errors)
    return {"message": summary(details, total), "detail": details, "error_count": total}
