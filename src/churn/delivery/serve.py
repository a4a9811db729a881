"""The prediction service: FastAPI over a verified model package, run by uvicorn.

    POST /predict   {"customers": [{...}, ...]} -> a churn probability per customer
    GET  /health    liveness, and which model version answers
    GET  /model     version, SHA-256, estimator, metrics, data version of the model

`churn serve` packages the model this checkout's pipeline produced and serves it on
127.0.0.1:8000; `churn serve --package dist/churn-model-1.2.0.tar.gz` serves a
released package instead. Requests are validated against the schema generated from
the data contract (`churn.delivery.schema`); any request that breaks it gets a 422 whose
`message` names each offending field, and at most `serve.max_errors` of them.
With `--log-dir DIR` it records what it scores and refuses in a prediction log
(`churn.delivery.predlog`) for `churn monitor`.

The service bounds what one client can make it do: the body's size, the nesting
and length of its JSON, the time to send headers and body, the headers' size and
the connections served at once, each a key of `serve:` in params.yaml
(`churn.delivery.limits`), and each refusal a JSON answer its OpenAPI document
lists (`churn.delivery.openapi`).
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints'
# annotations at runtime, and names defined inside `create_app` would not resolve.

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churn import config
from churn.delivery import contents, package, schema
from churn.delivery.limits import Limits

# The web stack and the request path are imported in `create_app` and `main`, after
# the arguments are parsed: `churn serve --help` answers without loading them.
if TYPE_CHECKING:
    from fastapi import FastAPI

    from churn.delivery import predlog

log = logging.getLogger(__name__)

#: Seconds between the interpreter's thread switches while the service runs.
SWITCH_INTERVAL = 0.001
#: A body with this many times the keys of a full batch is refused unparsed; up
#: to that, it is parsed, so that a batch a little too large is told its size.
KEYS_MARGIN = 2
#: Environment variable naming the package for `uvicorn --factory`.
PACKAGE_ENV = "CHURN_PACKAGE"


def create_app(
    pkg: package.Package,
    *,
    max_batch: int | None = None,
    limits: Limits | None = None,
    plog: "predlog.PredictionLog | None" = None,
) -> "FastAPI":
    """The FastAPI application serving `pkg` within `limits` (default: defaults);
    `plog` records what it scores and refuses."""
    import orjson
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response
    from starlette.requests import ClientDisconnect

    from churn.delivery import (
        body,
        offload,
        openapi,
        predlog,
        refusals,
        scorer,
        validation,
    )

    limit = max_batch or pkg.manifest["max_batch"]
    limits = limits or Limits()
    PredictRequest = schema.build_request_model(limit)  # noqa: N806 (a class)
    check = schema.ColumnCheck(limit)
    score = scorer.from_model(pkg.model)
    threshold = float(pkg.manifest["threshold"])
    name, version = pkg.manifest["name"], pkg.version
    info = contents.public_info(pkg.manifest)
    common, refused_docs = openapi.responses(limits)
    app = FastAPI(
        title=name,
        version=version,
        description="Churn probability for telecom customers.",
        responses=common,
        lifespan=offload.lifespan(plog),
    )

    @app.get("/health", response_model=openapi.Health)
    async def health() -> dict[str, str]:
        """Liveness: the service is up and which model version answers."""
        return {"status": "ok", "model": name, "version": version}

    @app.get("/model")
    async def model() -> dict[str, Any]:
        """The loaded model: version, hash, estimator, metrics and data version."""
        return info

    def record_refusal(*rules: str, outcome: validation.Outcome | None = None) -> None:
        if plog is not None:  # prediction log: --log-dir
            found = (
                predlog.rules(validation.describe(outcome.errors)) if outcome else []
            )
            plog.refused([*rules, *found])

    def unprocessable(outcome: validation.Outcome) -> JSONResponse:
        record_refusal(outcome=outcome)
        return refusals.unprocessable(outcome)

    # The endpoint is `async` on purpose: scoring a request takes microseconds, less
    # than a trip through the thread pool that a plain `def` would cost.
    # It reads the body itself rather than declaring `PredictRequest` as a parameter:
    # FastAPI would then validate every customer one by one, which costs several
    # times the scoring. `ColumnCheck` clears a valid batch column by column; any
    # other body is parsed strictly and validated customer by customer in a process
    # of its own (`churn.delivery.offload`), which keeps the event loop free.
    @app.post(
        "/predict",
        response_model=openapi.PredictResponse,
        responses=refused_docs,
        openapi_extra={"requestBody": openapi.request_body(PredictRequest.__name__)},
    )
    async def predict(request: Request) -> Response:
        """Churn probability for each customer, in request order."""
        refused = refusals.not_json(refusals.media_type(request))
        if refused is not None:
            record_refusal("body: content_type")
            return refused
        try:
            raw = await body.read(request, max_bytes=limits.max_body_bytes)
        except body.TooLarge:
            record_refusal("body: too_large")
            return refusals.refuse(
                413,
                f"the body exceeds {limits.max_body_bytes} bytes "
                "(serve.max_body_bytes): split the batch",
            )
        except ClientDisconnect:
            # Gone, or too slow: the protocol has answered 408 and closes.
            return Response(status_code=408)
        seen = body.marks(raw)
        if seen.colons > KEYS_MARGIN * check.members:
            return unprocessable(
                validation.too_many_keys(seen.colons, check.members, limit)
            )
        # Parsing holds the event loop for as long as it takes, so only a body
        # shaped like a batch is parsed here: at most one object per customer of
        # a full batch, as many members as they have fields, no more commas than
        # members (no arrays but the list of customers). Anything else goes to
        # the checking process.
        parsed = None
        if check.could_be_batch(*seen):
            parsed = body.fast(raw)
        checked = None if parsed is None else check.columns(parsed, seen.colons)
        if checked is None:
            try:
                outcome = await offload.outcome(
                    raw,
                    max_depth=limits.max_depth,
                    limit=limit,
                    max_errors=limits.max_errors,
                )
            except offload.WorkerLost as exc:
                record_refusal("body: worker_lost")
                return refusals.refuse(503, str(exc), retry_after=1)
            if outcome.total:
                return unprocessable(outcome)
            # A model's __dict__ holds exactly its fields; dict(model) is far slower.
            features: Any = [c.__dict__ for c in outcome.customers]
            proba = score.proba(features)
            ids = [c.customer_id for c in outcome.customers]
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

    openapi.document_request(app, PredictRequest)
    return app


def settings() -> dict[str, Any]:
    """The `serve:` section of this checkout's params.yaml (empty if none)."""
    params = config.load_params() if config.PARAMS_FILE.is_file() else {}
    return params.get("serve") or {}


def app_from_env() -> "FastAPI":
    """Factory for `uvicorn --factory churn.delivery.serve:app_from_env`.

    The package comes from the CHURN_PACKAGE variable (a path). Run this way, the
    body's limits hold, but uvicorn's own protocol serves: no header or body
    deadline and no connection limit, which only `churn serve` sets.
    """
    path = os.environ.get(PACKAGE_ENV)
    if not path:
        raise SystemExit(f"set {PACKAGE_ENV} to a model package folder or .tar.gz")
    limits = Limits.from_settings(settings())
    try:
        pkg = package.load(Path(path))
    except package.PackageError as exc:
        raise SystemExit(str(exc)) from None
    return create_app(pkg, limits=limits)


def main(argv: list[str] | None = None) -> int:
    """Entry point: load (or first build) the package and serve it with uvicorn."""
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn serve",
        description=__doc__,
    )
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
        "-S",
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one serve: limit for this run, e.g. -S body_timeout=10",
    )
    parser.add_argument(
        "--log-dir",
        type=Path,
        help="append what is scored and refused to JSON Lines files here "
        "(churn.delivery.predlog; read by churn monitor); default: no log",
    )
    args = parser.parse_args(argv)
    import uvicorn

    from churn.delivery import predlog
    from churn.delivery.protocol import protocol_for

    config.setup_logging()
    try:
        limits = Limits.from_settings(settings(), args.set)
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
    app = create_app(pkg, max_batch=args.max_batch, limits=limits, plog=plog)
    # The event loop shares the interpreter with the threads that hand bodies to
    # the checking process and write the prediction log: switching every
    # millisecond rather than every five keeps its answers prompt meanwhile.
    sys.setswitchinterval(SWITCH_INTERVAL)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=not args.no_access_log,
        log_level="info",
        http=protocol_for(limits),
        **limits.uvicorn_options(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
