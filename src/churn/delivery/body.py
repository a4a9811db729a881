"""A request body read within bounds, and parsed as strict JSON.

`read` takes at most `max_body_bytes`. `fast` is the
parser of the happy path: orjson, which is several times faster than `json` and
refuses what is not UTF-8, lone surrogates and nesting deeper than 1,024, but takes
duplicate keys (the last wins) and integers beyond 64 bits (as floats). A body that
`fast` cannot parse, or that the column check does not clear, goes through
`strict`, which finds out exactly what is wrong and says so:

- only UTF-8 (RFC 8259): UTF-16 and UTF-32 are refused, not guessed;
- nesting deeper than `max_depth` is refused before anything recurses into it;
- a key twice in one object is refused, naming the key;
- an integer longer than `MAX_INT_DIGITS` digits is refused: the service reads
  integers of at most 64 bits, and longer ones would only cost time to convert;
- NaN and Infinity parse, so that validation names the field that holds them.

Each problem is one error shaped like pydantic's ({type, loc, msg}).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, NamedTuple

import numpy as np
import orjson
from starlette.requests import Request

#: Most digits an integer may have; 2**64 has 20.
MAX_INT_DIGITS = 20

Error = dict[str, Any]


class TooLarge(Exception):
    """The body holds more bytes than allowed."""


async def read(request: Request, *, max_bytes: int) -> bytes:
    """The whole body, or `TooLarge` as soon as it passes `max_bytes`.

    A declared Content-Length is checked before anything is read; a chunked body
    is counted as it arrives. The deadline for the body is the protocol's
    (`churn.delivery.protocol`): when it passes, this raises `ClientDisconnect`.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLarge
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def fast(raw: bytes) -> Any:
    """The parsed body, or `None` (which no valid request is) if orjson refuses it."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


class _Refused(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) == len(pairs):
        return out
    counts = Counter(key for key, _ in pairs)
    key = next(key for key, n in counts.items() if n > 1)
    raise _Refused(
        "duplicate_key",
        f"the key {safe_text(key)!r} appears {counts[key]} times in one object: "
        "send each field once",
    )


def _integer(text: str) -> int:
    digits = len(text) - text.startswith("-")
    if digits > MAX_INT_DIGITS:
        raise _Refused(
            "int_too_long",
            f"an integer of {digits} digits: integers here have at most "
            f"{MAX_INT_DIGITS} digits (64 bits)",
        )
    return int(text)


def _float(text: str) -> float:
    # A Python callable rather than `float` itself, so that the parser calls back
    # into Python per number, and other threads get their turn while it parses.
    return float(text)


#: Every byte but the brackets and the quote, deleted before depth is measured.
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')


class Marks(NamedTuple):
    """How many colons, opening braces and commas a body holds, strings included."""

    colons: int
    braces: int
    commas: int


def marks(raw: bytes) -> Marks:
    """The colons, opening braces and commas of `raw`, strings included."""
    if len(raw) < 4096:
        return Marks(raw.count(b":"), raw.count(b"{"), raw.count(b","))
    # Several times faster than bytes.count on a large body.
    codes = np.frombuffer(raw, dtype=np.uint8)
    return Marks(
        *(int(np.count_nonzero(codes == ord(mark))) for mark in (":", "{", ","))
    )


def depth(raw: bytes) -> int:
    """How deep arrays and objects nest in `raw`, brackets inside strings aside."""
    # Escaped backslashes and quotes first, so every quote left opens or closes a
    # string; then only the quotes and brackets, and of those the brackets that an
    # even number of quotes precede.
    marks = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    codes = np.frombuffer(marks.translate(None, _NOT_STRUCTURE), dtype=np.uint8)
    if not len(codes):
        return 0
    quote = codes == ord('"')
    outside = (np.cumsum(quote) % 2 == 0) & ~quote
    opens = (codes == ord("[")) | (codes == ord("{"))
    steps = np.where(opens, 1, -1)[outside]
    return int(steps.cumsum().max()) if len(steps) else 0


def strict(raw: bytes, *, max_depth: int) -> tuple[Any, list[Error]]:
    """The parsed body, or the one error that says why it is not strict JSON."""
    if not raw:
        return None, [{"type": "missing", "loc": ("body",), "msg": "Field required"}]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        hint = " (UTF-16 or UTF-32?)" if b"\0" in raw else ""
        return None, [
            _error(
                "json_not_utf8",
                f"not UTF-8{hint} at byte {exc.start}: send JSON encoded as UTF-8",
            )
        ]
    if b"\0" in raw:
        return None, [
            _error(
                "json_not_utf8",
                "holds NUL bytes (UTF-16 or UTF-32?): send JSON encoded as UTF-8",
            )
        ]
    nested = depth(raw)
    if nested > max_depth:
        return None, [
            _error(
                "json_too_deep",
                f"nests {nested} levels deep; at most {max_depth} are read "
                "(serve.max_depth), and a request needs 3",
            )
        ]
    try:
        body = json.loads(
            text, object_pairs_hook=_unique, parse_int=_integer, parse_float=_float
        )
    except _Refused as exc:
        return None, [_error(exc.kind, str(exc))]
    except json.JSONDecodeError as exc:
        return None, [
            {
                "type": "json_invalid",
                "loc": ("body", exc.pos),
                "msg": "JSON decode error",
                "ctx": {"error": exc.msg},
            }
        ]
    except RecursionError:
        # Only when max_depth is set above what the parser can recurse.
        return None, [_error("json_too_deep", "nests too deep to parse")]
    return body, []


def _error(kind: str, message: str) -> Error:
    return {"type": kind, "loc": ("body",), "msg": message}


def safe_text(text: str, limit: int = 80) -> str:
    """`text` cut to `limit` characters, with what UTF-8 cannot hold escaped.

    A JSON string may hold a lone surrogate ("\\ud800"); echoed as it is, it would
    make the answer itself impossible to encode.
    """
    cut = text if len(text) <= limit else text[:limit] + "..."
    return cut.encode("utf-8", "backslashreplace").decode("utf-8")
