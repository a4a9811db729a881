"""The prediction request schema, generated from the data contract.

Nothing here lists a column, a category or a range: each field of `Customer` is built
from a `contract.Column`, so the service, the batch CLI and the published JSON schema
change when the contract does. Requests are validated strictly: unknown fields, wrong
JSON types (`"12"` for a number, `true` for a 0/1 flag), values outside the contract's
range and categories it does not list are refused, each error naming its field.
An integer field reads what JSON Schema calls an integer: `12` and `12.0`, not
`12.5`; the published schema (`json_schema`, and the service's OpenAPI document)
says exactly what is accepted, down to the rule that ties `total_charges` to `tenure`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from churn import config, contract
from churn.delivery.columns import UNBILLED, rule_of
from churn.delivery.columns import ColumnCheck as ColumnCheck  # the fast path

# pydantic is imported inside the functions that build the models, and `Customer`
# is built on first use (`customer_model`): `churn schema --help`, and the commands
# that import this module, answer without loading pydantic.
if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationInfo
    from pydantic_core import PydanticCustomError

log = logging.getLogger(__name__)

#: Largest batch one request may hold when `params.yaml` does not say.
DEFAULT_MAX_BATCH = 10_000


def _no_bool(value: Any) -> Any:
    # JSON `true` equals 1 in Python, and a Literal[0, 1] would take it for a flag.
    if isinstance(value, bool):
        from pydantic_core import PydanticCustomError

        raise PydanticCustomError(
            "flag_type", "Input should be an integer, not true or false"
        )
    return value


def _integral(value: Any) -> Any:
    # JSON Schema counts 12.0 as an integer; so does the request model.
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def field_type(col: contract.Column) -> Any:
    """The type annotation that enforces `col`'s rules on one JSON value."""
    from pydantic import BeforeValidator, Field

    rule = rule_of(col)
    if rule.allowed is not None:
        kind: Any = Literal[col.allowed]  # type: ignore[valid-type]
        if rule.types == {int}:
            kind = Annotated[
                kind, BeforeValidator(_integral), BeforeValidator(_no_bool)
            ]
    elif rule.types == {int}:
        kind = Annotated[
            int, Field(ge=rule.minimum, le=rule.maximum), BeforeValidator(_integral)
        ]
    else:
        kind = Annotated[
            float, Field(ge=col.minimum, le=col.maximum, allow_inf_nan=False)
        ]
    return kind | None if col.nullable else kind


def _field(col: contract.Column, *, required: bool = True) -> tuple[Any, Any]:
    from pydantic import Field

    kind = field_type(col)
    if not required:
        return kind | None, Field(default=None, description=col.why)
    return kind, Field(description=col.why)


def _unbilled_only(value: float | None, info: ValidationInfo) -> float | None:
    # `tenure` comes first in the contract, so it is validated by now (if valid).
    tenure = info.data.get(UNBILLED[1])
    if value is None and tenure is not None and tenure != 0:
        from pydantic_core import PydanticCustomError

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
    from pydantic import ConfigDict, create_model, field_validator

    fields: dict[str, Any] = {
        contract.ID: _field(contract.column(contract.ID), required=False)
    }
    for name in contract.feature_names():
        fields[name] = _field(contract.column(name))
    # The unbilled rule in JSON Schema's words: a number, or a customer of tenure 0.
    blank, tenure = UNBILLED
    unbilled = {
        "anyOf": [
            {"properties": {blank: {"type": "number"}}},
            {"properties": {tenure: {"const": 0}}},
        ]
    }
    return create_model(
        "Customer",
        __config__=ConfigDict(extra="forbid", strict=True, json_schema_extra=unbilled),
        __doc__="One customer, described by the data contract's features.",
        __validators__={"unbilled_only": field_validator(UNBILLED[0])(_unbilled_only)},
        **fields,
    )


def customer_model() -> type[BaseModel]:
    """`Customer`, the request model for one customer: built on first use, then kept."""
    if "Customer" not in globals():
        globals()["Customer"] = build_customer_model()
    return globals()["Customer"]


def __getattr__(name: str) -> Any:
    # `schema.Customer` reads like a constant; from its first use on, it is one.
    if name == "Customer":
        return customer_model()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def max_batch(params: dict[str, Any] | None = None) -> int:
    """The batch limit from `params.yaml` (`serve.max_batch`)."""
    if params is None:
        params = config.load_params() if config.PARAMS_FILE.is_file() else {}
    return int((params.get("serve") or {}).get("max_batch", DEFAULT_MAX_BATCH))


def batch_size_error(size: int, limit: int) -> PydanticCustomError | None:
    """Why a batch of `size` customers is refused, or None if its size is fine."""
    from pydantic_core import PydanticCustomError

    if size == 0:
        return PydanticCustomError(
            "empty_batch", "is empty: send at least one customer"
        )
    if size > limit:
        return PydanticCustomError(
            "batch_too_large",
            "holds {size} customers; one request takes at most "
            "{limit} (serve.max_batch in params.yaml): split the batch",
            {"size": size, "limit": limit},
        )
    return None


def build_request_model(limit: int) -> type[BaseModel]:
    """The body of `POST /predict`: one or more customers, at most `limit`."""
    from pydantic import ConfigDict, Field, create_model, model_validator

    def check_size(data: Any) -> Any:
        # Counted before the rows are validated, so an oversized batch costs nothing.
        if isinstance(data, dict) and isinstance(data.get("customers"), list):
            error = batch_size_error(len(data["customers"]), limit)
            if error is not None:
                raise error
        return data

    return create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid", strict=True),
        __doc__="One or more customers to score.",
        __validators__={"check_size": model_validator(mode="before")(check_size)},
        customers=(
            list[customer_model()],  # type: ignore[valid-type]
            Field(
                description=f"1 to {limit} customers", min_length=1, max_length=limit
            ),
        ),
    )


def json_schema(limit: int) -> dict[str, Any]:
    """The JSON schema of a prediction request, as published with the model."""
    return build_request_model(limit).model_json_schema()


def main(argv: list[str] | None = None) -> int:
    """Entry point: write the request JSON schema to a file or standard output."""
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn schema",
        description=__doc__,
    )
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
