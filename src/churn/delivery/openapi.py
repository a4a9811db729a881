"""The service's OpenAPI document: every status it can answer, with its JSON body.

FastAPI documents what an endpoint declares. The prediction endpoint reads its body
itself (for speed, see `churn.delivery.serve`), and the refusals come from several
layers: the HTTP protocol (400, 408, 431, 503), the body reader (408, 413) and the
validator (415, 422). Each is declared here, so that the document is exact, and the
test suite holds the running service to it with schemathesis.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, Field, create_model

from churn.delivery.limits import Limits


class Message(BaseModel):
    """A refusal: what was wrong, and what to do about it."""

    message: str


class FieldError(BaseModel):
    """One thing wrong with a request body."""

    field: str = Field(description="where: customers[0].tenure, or body")
    message: str
    type: str = Field(description="a stable name for the kind of error")
    input: str | int | float | bool | None = Field(
        default=None,
        description="the offending value, when it is a JSON scalar (text is cut "
        "to 80 characters, what UTF-8 cannot hold is escaped)",
    )


class Prediction(BaseModel):
    """The model's answer for one customer."""

    customer_id: int | None = Field(description="echoed from the request")
    churn_probability: float = Field(ge=0, le=1)
    churn: bool = Field(description="churn_probability >= the model's threshold")


class PredictResponse(BaseModel):
    """The answer to `POST /predict`, one prediction per customer, in order."""

    model: str
    version: str
    predictions: list[Prediction]


class Health(BaseModel):
    """The service is up, and which model answers."""

    status: Literal["ok"]
    model: str
    version: str


def _unprocessable(limits: Limits) -> type[BaseModel]:
    return create_model(
        "Unprocessable",
        __doc__="A body that breaks the request schema: the first errors, and how "
        "many there were in all.",
        message=(str, Field(description="the first few errors, on one line")),
        detail=(list[FieldError], Field(min_length=1, max_length=limits.max_errors)),
        error_count=(int, Field(ge=1, description="every error, listed or not")),
    )


def _refusal(text: str) -> dict[str, Any]:
    return {"model": Message, "description": text}


def responses(limits: Limits) -> tuple[dict[int | str, Any], dict[int | str, Any]]:
    """The error answers of every endpoint, and the further ones of POST /predict."""
    common: dict[int | str, Any] = {
        400: _refusal("not a valid HTTP/1.1 request"),
        408: _refusal(
            f"the request line and headers took over {limits.header_timeout:g} s "
            f"(serve.header_timeout), or the body over {limits.body_timeout:g} s "
            "(serve.body_timeout)"
        ),
        431: _refusal(
            f"the request line and headers exceed {limits.max_header_bytes} bytes "
            "(serve.max_header_bytes)"
        ),
        503: _refusal(
            f"{limits.max_concurrency} connections are being served "
            "(serve.max_concurrency), or two processes that check bodies stopped "
            "on this one; retry after the seconds in Retry-After"
        ),
    }
    predict: dict[int | str, Any] = {
        413: _refusal(
            f"the body exceeds {limits.max_body_bytes} bytes (serve.max_body_bytes)"
        ),
        415: _refusal("the body is not sent as application/json"),
        422: {
            "model": _unprocessable(limits),
            "description": "the body is not strict UTF-8 JSON, nests deeper than "
            f"{limits.max_depth} (serve.max_depth), or breaks the request schema; "
            f"at most {limits.max_errors} errors are listed (serve.max_errors)",
        },
    }
    return common, predict


def request_body(model_name: str) -> dict[str, Any]:
    """The `requestBody` of an operation that reads `model_name` as JSON."""
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{model_name}"}
            }
        },
    }


def document_request(app: FastAPI, model: type[BaseModel]) -> None:
    """Put the request model's schemas into the OpenAPI document's components."""
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = plain()
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(body.pop("$defs", {}))
            schemas[model.__name__] = body
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
