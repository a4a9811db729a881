"""What the service allows one client: sizes, deadlines and concurrency.

Every limit is a key of the `serve:` section of `params.yaml`, with the default below
when the key is absent; `churn serve -S KEY=VALUE` overrides one for a single run.
They hold whatever address the service listens on. uvicorn 0.54 itself bounds only
the idle time between two requests on a connection (`timeout_keep_alive`) and, in
its h11 parser alone, the header size; its httptools parser, which serves here, has
no header limit and no deadline for headers or body. `churn.delivery.protocol` adds
those and the connection limit; the endpoint bounds the body's size and JSON
(`churn.delivery.body`) and the errors it lists (`churn.delivery.validation`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Keys of `serve:` that are not limits of the HTTP server.
OTHER_KEYS = frozenset({"max_batch"})


@dataclass(frozen=True)
class Limits:
    """The `serve:` limits, checked when built: each is a positive number."""

    #: Largest request body, in bytes: a larger one gets a 413 (10,000 customers,
    #: the largest batch, take 4.9 MB as `json.dumps` writes them, 6.2 MB indented).
    max_body_bytes: int = 8_388_608
    #: Largest request line plus headers, in bytes: more gets a 431.
    max_header_bytes: int = 16_384
    #: Deepest nesting of arrays and objects in a body: deeper gets a 422 (a valid
    #: request nests 3 deep).
    max_depth: int = 32
    #: Most errors one 422 lists; it also says how many there were in all.
    max_errors: int = 20
    #: Seconds from the first byte of a request (or from connecting) to the end of
    #: its headers: slower gets a 408 and the connection is closed.
    header_timeout: float = 10.0
    #: Seconds to receive the whole body once the headers are in: slower gets a 408.
    body_timeout: float = 30.0
    #: Seconds an idle connection is kept open between two requests.
    keep_alive_timeout: float = 5.0
    #: Most connections served at once; one more gets a 503 with Retry-After.
    max_concurrency: int = 100
    #: Seconds that requests in flight get to finish when the service is stopped.
    shutdown_timeout: float = 10.0

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            kinds = (int,) if field.type == "int" else (int, float)
            if isinstance(value, bool) or not isinstance(value, kinds) or value <= 0:
                kind = "an integer" if kinds == (int,) else "a number"
                raise ValueError(
                    f"serve.{field.name} must be {kind} above 0, got {value!r}"
                )

    @classmethod
    def from_settings(
        cls, serve: Mapping[str, Any] | None, overrides: Iterable[str] = ()
    ) -> Limits:
        """The limits from a `serve:` section, then `KEY=VALUE` overrides.

        An unknown key is refused rather than ignored: a misspelt limit would
        otherwise leave the default in force without a word.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in (serve or {}).items() if k not in OTHER_KEYS}
        for item in overrides:
            key, sep, text = item.partition("=")
            if not sep:
                raise ValueError(f"-S {item!r}: write KEY=VALUE, e.g. max_errors=20")
            values[key.strip()] = _number(key.strip(), text.strip())
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(
                f"unknown serve setting(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(names | OTHER_KEYS))}"
            )
        return cls(**values)

    def uvicorn_options(self) -> dict[str, Any]:
        """The keyword arguments of `uvicorn.run` that these limits set."""
        return {
            "timeout_keep_alive": self.keep_alive_timeout,
            "timeout_graceful_shutdown": self.shutdown_timeout,
            # The protocol answers over-limit requests itself, with a JSON 503.
            "limit_concurrency": None,
            # No route speaks WebSocket: an upgrade request is served as plain HTTP.
            "ws": "none",
        }


def _number(key: str, text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"-S {key}={text}: not a number") from None
