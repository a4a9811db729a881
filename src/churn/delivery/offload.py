"""The process that checks the bodies the column check cannot clear.

Parsing a large bad body holds the interpreter for as long as it takes: one
object with hundreds of thousands of keys is a single call into the JSON
scanner that lasts a fifth of a second, and no thread switch can interrupt it.
Run in a thread, that call stalls the event loop, and `/health` with it. Run in
a process of its own, it uses another core, and the service only hands over the
bytes and reads back the outcome: at most `max_errors` errors, or the customers.

One process works through those bodies one after another, started on the first
such body and replaced if it dies; however many bad requests arrive at once,
checking them costs one core.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any

from churn.delivery import body, validation

if TYPE_CHECKING:
    from churn.delivery import predlog

log = logging.getLogger(__name__)

_pool: ProcessPoolExecutor | None = None
_lock = threading.Lock()


class WorkerLost(Exception):
    """Two checking processes in a row stopped while they held this body."""


def check(
    raw: bytes, *, max_depth: int, limit: int, max_errors: int
) -> validation.Outcome:
    """Parse `raw` strictly and validate it customer by customer."""
    parsed, errors = body.strict(raw, max_depth=max_depth)
    if errors:
        outcome = validation.Outcome(max_errors)
        outcome.add(errors)
        return outcome
    return validation.validate(parsed, limit=limit, max_errors=max_errors)


def _watch_parent() -> None:
    """In the checking process: leave the stopping to the service, and end when
    the service's process ends.

    A service killed outright cannot stop it, and it would hold the service's
    output streams open for whoever reads them.
    """
    # Ctrl-C and a service manager signal the whole process group; the service
    # stops this process itself once its requests are answered.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # spawn, not fork: the service runs threads (uvicorn's, the prediction
            # log's writer) that a fork would copy in the middle of what they do.
            context = multiprocessing.get_context("spawn")
            _pool = ProcessPoolExecutor(
                max_workers=1, mp_context=context, initializer=_watch_parent
            )
        return _pool


def _discard(broken: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is broken:
            _pool = None
    broken.shutdown(wait=False, cancel_futures=True)


async def outcome(
    raw: bytes, *, max_depth: int, limit: int, max_errors: int
) -> validation.Outcome:
    """`check(raw, ...)` in the checking process; `WorkerLost` if two processes
    in a row died before they answered it."""
    work = partial(check, max_depth=max_depth, limit=limit, max_errors=max_errors)
    loop = asyncio.get_running_loop()
    for attempt in (1, 2):
        pool = _executor()
        try:
            return await loop.run_in_executor(pool, work, raw)
        except BrokenProcessPool:
            _discard(pool)
            # The process may have died before the body reached it (killed, out
            # of memory, or dying as it was handed over): once more, on a new one.
            log.warning("the checking process stopped (attempt %d of 2)", attempt)
    log.error("the checking process stopped twice on a %d-byte body", len(raw))
    raise WorkerLost(
        "the process that checks this kind of body stopped twice while checking "
        "it; retry, and split the batch if it happens again"
    )


def pids() -> list[int]:
    """The checking process's id, if it runs (empty before the first such body)."""
    with _lock:
        pool = _pool
    # ProcessPoolExecutor names its processes only in this private mapping.
    return sorted(pool._processes) if pool is not None else []  # noqa: SLF001


def shutdown() -> None:
    """Stop the checking process (a later body starts another)."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def lifespan(plog: predlog.PredictionLog | None) -> Callable[[Any], Any]:
    """The service's lifespan: when it stops, stop the checking process, and write
    what the prediction log still holds.

    uvicorn ends the process by re-raising the signal that stopped it, so neither
    the code after `uvicorn.run` nor `atexit` would run.
    """

    @asynccontextmanager
    async def stopping(_app: Any) -> AsyncIterator[None]:
        yield
        shutdown()
        if plog is not None:
            plog.close()

    return stopping
