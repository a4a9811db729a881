"""How the prediction service answers what it refuses: always a JSON body.

Every refusal has the shape its OpenAPI document lists (`churn.delivery.openapi`):
a `message`, or for a 422 the first `serve.max_errors` errors and their count.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from churn.delivery import validation


def not_json(media: str) -> JSONResponse | None:
    """A 415 for a body that is not JSON, or None for one that is (or is unnamed).

    FastAPI parses a body sent without a Content-Type as JSON, and so does this.
    """
    if media and media != "application/json" and not media.endswith("+json"):
        return JSONResponse(
            status_code=415,
            content={
                "message": f"send the body as JSON (Content-Type: application/json), "
                f"not {media}"
            },
        )
    return None


def media_type(request: Request) -> str:
    """The request's media type, without parameters such as `charset`."""
    return request.headers.get("content-type", "").split(";")[0].strip()


def refuse(
    status: int, message: str, *, retry_after: int | None = None
) -> JSONResponse:
    """A refusal with a JSON `message`, closing the connection.

    The body may not have been read to its end, so the connection cannot be reused.
    """
    headers = {"Connection": "close"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return JSONResponse(
        status_code=status, content={"message": message}, headers=headers
    )


def unprocessable(outcome: validation.Outcome) -> JSONResponse:
    """The 422 for a body that breaks the request schema: the first few errors."""
    answer = validation.answer(outcome.errors, outcome.total)
    return JSONResponse(status_code=422, content=answer)
