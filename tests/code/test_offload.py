"""The checking process: bodies the column check cannot clear are parsed and
validated outside the service's interpreter, and the service survives its death."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import orjson
import pytest

from churn.delivery import offload, package, serve
from churn.delivery.samples import request_rows
from delivery_helpers import bundled

#: Unknown keys in a body that keeps the checking process busy for a while.
MANY_KEYS = 300_000


@pytest.fixture(autouse=True)
def fresh_process():
    offload.shutdown()
    yield
    offload.shutdown()


def _gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a child of this process: reap it, or it stays a zombie
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.05)
    return False


def _post(client: httpx.AsyncClient, raw: bytes):
    return client.post(
        "/predict", content=raw, headers={"Content-Type": "application/json"}
    )


def _client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t"
    )


def test_check_words_errors_or_returns_the_customers() -> None:
    customer = request_rows(bundled().head(1))[0]
    good = offload.check(
        orjson.dumps({"customers": [customer]}), max_depth=8, limit=5, max_errors=3
    )
    assert good.total == 0
    assert [c.customer_id for c in good.customers] == [customer["customer_id"]]
    bad = offload.check(
        orjson.dumps({"customers": [{f"k{i}": i for i in range(50)}]}),
        max_depth=8,
        limit=5,
        max_errors=3,
    )
    assert bad.total > 50 and len(bad.errors) == 3 and not bad.customers
    deep = offload.check(b"[" * 20 + b"]" * 20, max_depth=8, limit=5, max_errors=3)
    assert deep.total == 1 and deep.errors[0]["type"] == "json_too_deep"


def test_a_declined_body_is_checked_in_another_process(built: Path) -> None:
    app = serve.create_app(package.load(built))
    assert offload.pids() == []

    async def go() -> list[int]:
        async with _client(app) as client:
            answer = await _post(client, b'{"customers": [{"tenure": "x"}]}')
            assert answer.status_code == 422, answer.text
            return offload.pids()

    pids = asyncio.run(go())
    assert len(pids) == 1 and pids[0] != os.getpid()


def test_the_service_survives_the_checking_process_dying(built: Path) -> None:
    app = serve.create_app(package.load(built))
    slow = orjson.dumps({"customers": [{f"k{i}": i for i in range(MANY_KEYS)}]})

    async def go() -> tuple[httpx.Response, ...]:
        async with _client(app) as client:
            warm = await _post(client, b'{"customers": [{}]}')
            # Killed while idle: the next body gets a new process, unaware.
            (first,) = offload.pids()
            os.kill(first, signal.SIGKILL)
            assert _gone(first)
            after_idle = await _post(client, b'{"customers": [{}]}')
            # Killed while it works on a body: that one request gets a 503.
            (second,) = offload.pids()
            assert second != first
            pending = asyncio.ensure_future(_post(client, slow))
            await asyncio.sleep(0.3)
            os.kill(second, signal.SIGKILL)
            lost = await pending
            recovered = await _post(client, b'{"customers": [{}]}')
            return warm, after_idle, lost, recovered

    warm, after_idle, lost, recovered = asyncio.run(go())
    assert warm.status_code == after_idle.status_code == 422
    assert lost.status_code == 503, lost.text
    assert lost.headers["retry-after"] == "1"
    assert "stopped while checking it" in lost.json()["message"]
    assert recovered.status_code == 422


def test_the_checking_process_ends_with_the_service() -> None:
    # Stopped cleanly, the service stops it; killed outright, it ends on its own
    # rather than hold the service's output streams open.
    script = textwrap.dedent(
        """
        import asyncio, os, signal, sys
        from churn.delivery import offload
        asyncio.run(offload.outcome(b"{}", max_depth=8, limit=5, max_errors=3))
        print(offload.pids()[0], flush=True)
        if sys.argv[1] == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        offload.shutdown()
        print(offload.pids(), flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for how in ("shutdown", "kill"):
        run = subprocess.run(
            [sys.executable, "-c", script, how],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        lines = run.stdout.split()
        assert lines, run.stderr
        assert _gone(int(lines[0])), f"checking process outlived its parent ({how})"
        if how == "shutdown":
            assert run.returncode == 0 and lines[1] == "[]", run.stderr
        else:
            assert run.returncode == -signal.SIGKILL
