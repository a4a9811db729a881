"""The prediction service: FastAPI over a verified model package, run by uvicorn.

    POST /predict   {"customers": [{...}, ...]} -> a churn probability per customer
    GET  /health    liveness, and which model version answers
    GET  /model     version, SHA-256, estimator, metrics, data version of the model

`churn serve` packages the model this checkout's pipeline produced and serves it on
127.0.0.1:8000; `churn serve --package dist/churn-model-1.2.0.tar.gz` serves a
released package instead. Requests are validated against the schema generated from
the data contract (`churn.delivery.schema`); any request that breaks it gets a 422 whose
`message` names each offending field. With `--log-dir DIR` it records what it scores
and refuses in a prediction log (`churn.delivery.predlog`) for `churn monitor`.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints'
# annotations at runtime, and names defined inside `create_app` would not resolve.

import argparse
import json
import logging
import math
import os
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from churn import config
from churn.delivery import package, predlog, schema, scorer

log = logging.getLogger(__name__)

#: How many field errors the one-line `message` of a 422 spells out.
MESSAGE_ERRORS = 5
#: Environment variable naming the package for `uvicorn --factory`.
PACKAGE_ENV = "CHURN_PACKAGE"


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


def field_name(loc: tuple[Any, ...]) -> str:
    """A pydantic error location as a path a person reads: customers[0].tenure."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "body"


#: Errors about the request as a whole, and the field each one is about.
_WHOLE_BODY = {"empty_batch": "customers", "batch_too_large": "customers"}


def _message(error: dict[str, Any], field: str) -> str:
    kind = error["type"]
    if kind == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", "")
        return f"not valid JSON: {detail} at character {error['loc'][-1]}"
    if field == "body" and kind == "missing":
        return 'a JSON body {"customers": [...]} is required'
    if field == "body" and kind in ("model_type", "model_attributes_type", "dict_type"):
        got = type(error.get("input")).__name__
        return f'must be a JSON object {{"customers": [...]}}, got {got}'
    return error["msg"]


def describe(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
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
        if scalar and kind not in ("missing", "json_invalid"):
            if isinstance(value, float) and not math.isfinite(value):
                value = str(value)  # JSON has no NaN or infinity to echo it with
            entry["input"] = value[:80] if isinstance(value, str) else value
        out.append(entry)
    return out


def summary(details: list[dict[str, Any]]) -> str:
    """One line naming the first few offending fields and what is wrong with each."""
    parts = []
    for d in details[:MESSAGE_ERRORS]:
        got = f" (got {d['input']!r})" if "input" in d else ""
        parts.append(f"{d['field']}: {d['message']}{got}")
    more = len(details) - MESSAGE_ERRORS
    return "; ".join(parts) + (f"; and {more} more error(s)" if more > 0 else "")


def _not_json(media: str) -> JSONResponse | None:
    # FastAPI parses a body sent without a Content-Type as JSON, and so does this.
    if media and media != "application/json" and not media.endswith("+json"):
        return JSONResponse(
            status_code=415,
            content={
                "message": f"send the body as JSON (Content-Type: application/json), "
                f"not {media}"
            },
        )
    return None


def _unprocessable(errors: list[dict[str, Any]]) -> JSONResponse:
    details = describe(errors)
    return JSONResponse(
        status_code=422,
        content={"message": summary(details), "detail": details},
    )


def _media(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip()


def parse_body(raw: bytes) -> tuple[Any, list[dict[str, Any]]]:
    """The JSON body, or the errors FastAPI would report for it (as pydantic's)."""
    if not raw:
        return None, [{"type": "missing", "loc": ("body",), "msg": "Field required"}]
    try:
        return orjson.loads(raw), []
    except orjson.JSONDecodeError:
        pass
    # The standard parser takes what orjson refuses but pydantic words better
    # (NaN, huge integers) and reports where the JSON breaks.
    try:
        return json.loads(raw), []
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        position = getattr(exc, "pos", getattr(exc, "start", 0))
        message = getattr(exc, "msg", str(exc))
        return None, [
            {
                "type": "json_invalid",
                "loc": ("body", position),
                "msg": "JSON decode error",
                "ctx": {"error": message},
            }
        ]


def model_info(pkg: package.Package) -> dict[str, Any]:
    """What `GET /model` reports about the loaded package."""
    info = pkg.manifest
    return {
        "name": info["name"],
        "version": info["version"],
        "tag": info["tag"],
        "commit": info["commit"],
        "sha256": info["model"]["sha256"],
        "estimator": info["model"]["estimator"],
        "hyperparameters": info["model"]["hyperparameters"],
        "threshold": info["threshold"],
        "metrics": info["metrics"],
        "data": info["data"],
        "max_batch": info["max_batch"],
        "versions": info["versions"],
    }


def _request_body(model_name: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": f"#/components/schemas/{model_name}"}
            }
        },
    }


def _document_request(app: FastAPI, model: type[BaseModel]) -> None:
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


def create_app(
    pkg: package.Package,
    *,
    max_batch: int | None = None,
    plog: predlog.PredictionLog | None = None,
) -> FastAPI:
    """The FastAPI application serving `pkg`; `plog` records what it scores."""
    limit = max_batch or pkg.manifest["max_batch"]
    PredictRequest = schema.build_request_model(limit)  # noqa: N806 (a class)
    check = schema.ColumnCheck(limit)
    score = scorer.from_model(pkg.model)
    threshold = float(pkg.manifest["threshold"])
    name, version = pkg.manifest["name"], pkg.version
    info = model_info(pkg)
    app = FastAPI(
        title=name,
        version=version,
        description="Churn probability for telecom customers.",
        lifespan=predlog.lifespan(plog),
    )

    @app.get("/health")
    async def health() -> dict[str, str]:
        """Liveness: the service is up and which model version answers."""
        return {"status": "ok", "model": name, "version": version}

    @app.get("/model")
    async def model() -> dict[str, Any]:
        """The loaded model: version, hash, estimator, metrics and data version."""
        return info

    # The endpoint is `async` on purpose: scoring a request takes microseconds, less
    # than a trip through the thread pool that a plain `def` would cost.
    # It reads the body itself rather than declaring `PredictRequest` as a parameter:
    # FastAPI would then validate every customer one by one, which costs several
    # times the scoring. `ColumnCheck` clears a valid batch column by column; any
    # other body goes through `PredictRequest`, which words the errors.
    @app.post(
        "/predict",
        response_model=PredictResponse,
        openapi_extra={"requestBody": _request_body(PredictRequest.__name__)},
    )
    async def predict(request: Request) -> Response:
        """Churn probability for each customer, in request order."""
        refused = _not_json(_media(request))
        if refused is not None:
            if plog is not None:  # prediction log: --log-dir
                plog.refused(["body: content_type"])
            return refused
        body, errors = parse_body(await request.body())
        if errors:
            if plog is not None:  # prediction log: --log-dir
                plog.refused(predlog.rules(describe(errors)))
            return _unprocessable(errors)
        checked = check.columns(body)
        if checked is None:
            try:
                customers = PredictRequest.model_validate(body).customers
            except ValidationError as exc:
                if plog is not None:  # prediction log: --log-dir
                    plog.refused(predlog.rules(describe(exc.errors(include_url=False))))
                return _unprocessable(exc.errors(include_url=False))
            # A model's __dict__ holds exactly its fields; dict(model) is far slower.
            features: Any = [c.__dict__ for c in customers]
            proba = score.proba(features)
            ids = [c.customer_id for c in customers]
        else:
            ids, features = checked
            proba = score.proba_columns(features)
        if plog is not None:  # prediction log: --log-dir
            plog.scored(ids, features, proba)
        predictions = [
            {"customer_id": i, "churn_probability": p, "churn": p >= threshold}
            for i, p in zip(ids, proba.tolist(), strict=True)
        ]
        # Built directly: the values are already checked, and re-validating
        # thousands of predictions would cost more than scoring them.
        return Response(
            orjson.dumps(
                {"model": name, "version": version, "predictions": predictions}
            ),
            media_type="application/json",
        )

    _document_request(app, PredictRequest)
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory churn.delivery.serve:app_from_env`.

    The package comes from the CHURN_PACKAGE variable (a path).
    """
    path = os.environ.get(PACKAGE_ENV)
    if not path:
        raise SystemExit(f"set {PACKAGE_ENV} to a model package folder or .tar.gz")
    return create_app(package.load(Path(path)))


def main(argv: list[str] | None = None) -> int:
    """Entry point: load (or first build) the package and serve it with uvicorn."""
    parser = argparse.ArgumentParser(prog="churn serve", description=__doc__)
    parser.add_argument(
        "--package",
        type=Path,
        help="package folder or .tar.gz (default: package this checkout's model)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--max-batch", type=int, help="default: serve.max_batch")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument(
        "--log-dir",
        type=Path,
        help="append what is scored and refused to JSON Lines files here "
        "(churn.delivery.predlog; read by churn monitor); default: no log",
    )
    args = parser.parse_args(argv)
    config.setup_logging()
    try:
        path = args.package or package.build_from_workspace(
            config.DIST_DIR,
            package.DEV_VERSION,
            config.load_params(),
            enforce_floor=False,
        )
        pkg = package.load(path)
    except (package.PackageError, ValueError, OSError) as exc:
        log.error("%s", exc)
        return 1
    plog = None
    if args.log_dir is not None:  # prediction log: --log-dir
        plog = predlog.PredictionLog(
            args.log_dir, model=pkg.manifest["name"], version=pkg.version
        )
    app = create_app(pkg, max_batch=args.max_batch, plog=plog)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=not args.no_access_log,
        log_level="info",
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
