"""uvicorn's httptools HTTP/1.1 protocol, bounded for a service that faces a network.

uvicorn 0.54 gives a connection unlimited time to send its headers (a connection
that trickles a header a byte at a time stays open for ever: slowloris) and, with
httptools, accepts headers of any size. `protocol_for(limits)` returns a subclass
that adds, per request:

- a deadline for the request line and headers (`header_timeout`), armed when the
  connection opens and again when the next request on it begins: 408;
- a cap on their size (`max_header_bytes`), counted as the bytes arrive: 431;
- a deadline for the body once the headers are in (`body_timeout`): 408;
- a cap on connections served at once (`max_concurrency`): 503 with Retry-After.

Every refusal, and the 400 for a request that is not HTTP, has a JSON body like
the service's own errors. A refusal written before the request is read to its end
closes gently: the answer and an end-of-stream are sent, what the client still sends
is read and dropped for `LINGER` seconds, then the connection closes, so the client
reads the answer instead of a connection reset.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from churn.delivery.limits import Limits

#: Seconds a refused connection keeps reading (and dropping) before it closes.
LINGER = 2.0
#: Seconds the client is told to wait before retrying after a 503.
RETRY_AFTER = 1


class Refusal:
    """An ASGI app that answers any request with one status and {"message": ...}."""

    def __init__(self, status: int, message: str, *extra: tuple[bytes, bytes]):
        self.status = status
        self.body = orjson.dumps({"message": message})
        self.headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
            (b"connection", b"close"),
            *extra,
        ]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        start = {"type": "http.response.start", "status": self.status}
        await send({**start, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})

    def response(self, default_headers: list[tuple[bytes, bytes]]) -> bytes:
        """The whole HTTP response, for a connection with no ASGI cycle to send it."""
        out = [STATUS_LINE[self.status]]
        for name, value in [*default_headers, *self.headers]:
            out += [name, b": ", value, b"\r\n"]
        return b"".join([*out, b"\r\n", self.body])


def protocol_for(limits: Limits) -> type[HttpToolsProtocol]:
    """The uvicorn protocol class (`uvicorn.run(http=...)`) that enforces `limits`."""
    too_large = Refusal(
        431,
        f"the request line and headers exceed {limits.max_header_bytes} bytes "
        "(serve.max_header_bytes)",
    )
    busy = Refusal(
        503,
        f"the service is serving {limits.max_concurrency} connections "
        f"(serve.max_concurrency): retry in {RETRY_AFTER} s",
        (b"retry-after", str(RETRY_AFTER).encode()),
    )

    class Bounded(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._app = self.app
            self._timer: asyncio.TimerHandle | None = None
            # Where the current request is: its head, its body, or neither.
            self._in_head = True
            self._in_body = False
            # Bytes received since the head began: at least the head's size.
            self._head_bytes = 0
            self._chunk = 0
            self._lingering = False

        def _arm(self, seconds: float, expired: Any) -> None:
            self._disarm()
            self._timer = self.loop.call_later(seconds, expired)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm(limits.header_timeout, self._head_too_slow)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._lingering:
                return
            self._chunk = len(data)
            if self._in_head:
                self._head_bytes += self._chunk
            super().data_received(data)
            if self._lingering or self.transport.is_closing():
                return
            # A deadline runs only while part of a request is still to come, so a
            # request that arrives in one piece sets no timer at all.
            if self._in_head:
                if self._head_bytes > limits.max_header_bytes:
                    self._refuse(too_large)
                elif self._timer is None:
                    self._arm(limits.header_timeout, self._head_too_slow)
            elif self._in_body and self._timer is None:
                self._arm(limits.body_timeout, self._body_too_slow)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_head = True
            self._head_bytes = self._chunk

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._in_body = True
            self._disarm()
            self.app = self._app
            if self._head_bytes > limits.max_header_bytes and (
                self._head_size() > limits.max_header_bytes
            ):
                self.app = too_large
            elif (
                len(self.connections) > limits.max_concurrency
                or len(self.tasks) >= limits.max_concurrency
            ):
                self.app = busy
            super().on_headers_complete()

        def _head_size(self) -> int:
            # The bytes of the head as sent: "GET /url HTTP/1.1", headers, blank line.
            size = len(self.parser.get_method()) + len(self.url) + 14
            return size + sum(len(n) + len(v) + 4 for n, v in self.headers)

        def on_message_complete(self) -> None:
            self._in_body = False
            self._disarm()
            super().on_message_complete()

        def send_400_response(self, msg: str) -> None:
            self._refuse(Refusal(400, f"not a valid HTTP/1.1 request: {msg}"))

        def _head_too_slow(self) -> None:
            self._timer = None
            if self.cycle is not None and not self.cycle.response_complete:
                # An answer is on its way: close the connection after it.
                self.cycle.keep_alive = False
                return
            message = (
                f"the request line and headers did not arrive within "
                f"{limits.header_timeout:g} s (serve.header_timeout)"
            )
            self._refuse(Refusal(408, message))

        def _body_too_slow(self) -> None:
            self._timer = None
            cycle = self.cycle
            if cycle.response_started:
                # Answered without the whole body (a 413, say): no need to wait.
                if cycle.response_complete:
                    self._linger()
                else:
                    cycle.keep_alive = False
                return
            # The endpoint is waiting for the rest: it learns that the client is
            # gone, and what it might still send is dropped; the 408 goes out here.
            cycle.disconnected = True
            cycle.message_event.set()
            message = (
                f"the body did not arrive within {limits.body_timeout:g} s "
                "(serve.body_timeout)"
            )
            self._refuse(Refusal(408, message))

        def _refuse(self, answer: Refusal) -> None:
            # Written directly: the request has no ASGI cycle to answer it.
            if self._lingering or self.transport.is_closing():
                return
            self.transport.write(answer.response(self.server_state.default_headers))
            self._linger()

        def _linger(self) -> None:
            self._lingering = True
            self._disarm()
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self._timer = self.loop.call_later(LINGER, self.transport.close)

    return Bounded
