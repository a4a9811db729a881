"""The prediction request schema, generated from the data contract.

Nothing here lists a column, a category or a range: each field of `Customer` is built
from a `contract.Column`, so the service, the batch CLI and the published JSON schema
change when the contract does. Requests are validated strictly: unknown fields, wrong
JSON types (`"12"` for a number, `true` for a 0/1 flag), values outside the contract's
range and categories it does not list are refused, each error naming its field.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import operator
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from churn import config, contract

log = logging.getLogger(__name__)

#: Largest batch one request may hold when `params.yaml` does not say.
DEFAULT_MAX_BATCH = 10_000


def _no_bool(value: Any) -> Any:
    # JSON `true` equals 1 in Python, and a Literal[0, 1] would take it for a flag.
    if isinstance(value, bool):
        raise PydanticCustomError(
            "flag_type", "Input should be an integer, not true or false"
        )
    return value


@dataclass(frozen=True)
class _Rule:
    """One column's rules from the contract: the JSON types a value may have, its
    levels or range, whether it may be null. `field_type` turns them into the request
    model's annotation, `ColumnCheck` into a check over a whole column."""

    name: str
    types: frozenset[type]
    allowed: frozenset[Any] | None
    minimum: float | None
    maximum: float | None
    nullable: bool


def _rule(col: contract.Column) -> _Rule:
    if col.allowed is not None:
        types = frozenset(type(v) for v in col.allowed)
    elif col.kind in ("id", "integer"):
        types = frozenset({int})
    elif col.kind == "number":
        # A strict float field takes JSON integers too.
        types = frozenset({int, float})
    else:
        raise ValueError(f"column {col.name!r}: no request type for kind {col.kind!r}")
    allowed = frozenset(col.allowed) if col.allowed is not None else None
    return _Rule(col.name, types, allowed, col.minimum, col.maximum, col.nullable)


def field_type(col: contract.Column) -> Any:
    """The type annotation that enforces `col`'s rules on one JSON value."""
    rule = _rule(col)
    if rule.allowed is not None:
        kind: Any = Literal[col.allowed]  # type: ignore[valid-type]
        if rule.types == {int}:
            kind = Annotated[kind, BeforeValidator(_no_bool)]
    elif rule.types == {int}:
        kind = Annotated[int, Field(ge=col.minimum, le=col.maximum)]
    else:
        kind = Annotated[
            float, Field(ge=col.minimum, le=col.maximum, allow_inf_nan=False)
        ]
    return kind | None if col.nullable else kind


def _field(col: contract.Column, *, required: bool = True) -> tuple[Any, Any]:
    kind = field_type(col)
    if not required:
        return kind | None, Field(default=None, description=col.why)
    return kind, Field(description=col.why)


#: The rule behind the contract's nullable `total_charges`: the validation suite
#: allows a blank only before the first bill (tenure 0), and
#: `churn.data.cleaning.clean` relies on it.
UNBILLED = ("total_charges", "tenure")


def _unbilled_only(value: float | None, info: ValidationInfo) -> float | None:
    # `tenure` comes first in the contract, so it is validated by now (if valid).
    tenure = info.data.get(UNBILLED[1])
    if value is None and tenure is not None and tenure != 0:
        raise PydanticCustomError(
            "unbilled_only",
            "may be null only for a customer not yet billed (tenure 0); this "
            "customer has tenure {tenure}",
            {"tenure": tenure},
        )
    return value


def build_customer_model() -> type[BaseModel]:
    """The request model for one customer: every feature of the contract.

    The customer's id is optional and only echoed back; the target is not an input.
    """
    fields: dict[str, Any] = {
        contract.ID: _field(contract.column(contract.ID), required=False)
    }
    for name in contract.feature_names():
        fields[name] = _field(contract.column(name))
    return create_model(
        "Customer",
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__="One customer, described by the data contract's features.",
        __validators__={"unbilled_only": field_validator(UNBILLED[0])(_unbilled_only)},
        **fields,
    )


Customer = build_customer_model()


def max_batch(params: dict[str, Any] | None = None) -> int:
    """The batch limit from `params.yaml` (`serve.max_batch`)."""
    if params is None:
        params = config.load_params() if config.PARAMS_FILE.is_file() else {}
    return int((params.get("serve") or {}).get("max_batch", DEFAULT_MAX_BATCH))


def build_request_model(limit: int) -> type[BaseModel]:
    """The body of `POST /predict`: one or more customers, at most `limit`."""

    def check_size(data: Any) -> Any:
        # Counted before the rows are validated, so an oversized batch costs nothing.
        if isinstance(data, dict) and isinstance(data.get("customers"), list):
            size = len(data["customers"])
            if size == 0:
                raise PydanticCustomError(
                    "empty_batch",
                    "is empty: send at least one customer",
                )
            if size > limit:
                raise PydanticCustomError(
                    "batch_too_large",
                    "holds {size} customers; one request takes at most "
                    "{limit} (serve.max_batch in params.yaml): split the batch",
                    {"size": size, "limit": limit},
                )
        return data

    return create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__="One or more customers to score.",
        __validators__={"check_size": model_validator(mode="before")(check_size)},
        customers=(
            list[Customer],  # type: ignore[valid-type]
            Field(description=f"1 to {limit} customers", min_length=1),
        ),
    )


def _column_ok(rule: _Rule, values: tuple[Any, ...]) -> bool:
    types = set(map(type, values))
    if rule.nullable and type(None) in types:
        types.discard(type(None))
        values = tuple(v for v in values if v is not None)
    # Exact types: `bool` is not `int` here, so JSON true is never a 0/1 flag.
    if not types <= rule.types:
        return False
    if not values:
        return True
    if rule.allowed is not None:
        return set(values) <= rule.allowed
    if float in types and not all(map(math.isfinite, values)):
        return False
    low, high = min(values), max(values)
    return (rule.minimum is None or low >= rule.minimum) and (
        rule.maximum is None or high <= rule.maximum
    )


class ColumnCheck:
    """A whole-column check of a parsed request body that never accepts a bad one.

    Validating a batch customer by customer costs more than scoring it. This check
    looks at each column of the batch at once, with the same rules `field_type`
    builds from the contract, and returns the columns only when every rule holds.
    It may decline a body the request model would take (a 0/1 flag sent as 1.0, say);
    the caller then validates with `build_request_model`, which also words the
    errors. The tests hold it to never accepting what the request model refuses.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.features = tuple(contract.feature_names())
        self._rules = tuple(_rule(contract.column(n)) for n in self.features)
        # The id is optional: missing and null both mean "none given".
        self._id_rule = replace(_rule(contract.column(contract.ID)), nullable=True)
        self._with_id = frozenset((contract.ID, *self.features))
        self._without_id = frozenset(self.features)
        self._pick = operator.itemgetter(*self.features)
        self._unbilled = self.features.index(UNBILLED[0])
        self._tenure = self.features.index(UNBILLED[1])

    def columns(self, body: Any) -> tuple[list[Any], dict[str, tuple[Any, ...]]] | None:
        """The customers' ids and feature columns, or None if not certainly valid."""
        if type(body) is not dict or body.keys() != {"customers"}:
            return None
        rows = body["customers"]
        if type(rows) is not list or not 1 <= len(rows) <= self.limit:
            return None
        if not all(type(row) is dict for row in rows):
            return None
        with_id, without_id = self._with_id, self._without_id
        if not all(r.keys() == with_id or r.keys() == without_id for r in rows):
            return None
        ids = [row.get(contract.ID) for row in rows]
        if not _column_ok(self._id_rule, tuple(ids)):
            return None
        values = list(zip(*map(self._pick, rows), strict=True))
        if not all(map(_column_ok, self._rules, values)):
            return None
        tenure = values[self._tenure]
        blanks = values[self._unbilled]
        if None in blanks and any(
            b is None and t != 0 for b, t in zip(blanks, tenure, strict=True)
        ):
            return None
        return ids, dict(zip(self.features, values, strict=True))


def json_schema(limit: int) -> dict[str, Any]:
    """The JSON schema of a prediction request, as published with the model."""
    schema = build_request_model(limit).model_json_schema()
    schema["properties"]["customers"]["maxItems"] = limit
    return schema


def main(argv: list[str] | None = None) -> int:
    """Entry point: write the request JSON schema to a file or standard output."""
    parser = argparse.ArgumentParser(prog="churn schema", description=__doc__)
    parser.add_argument("--out", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args(argv)
    config.setup_logging()
    text = json.dumps(json_schema(max_batch()), indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text)
        log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
