"""The checking process: bodies the column check cannot clear are parsed and
validated outside the service's interpreter, and the service survives its death."""

import asyncio
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import httpx
import orjson
import pytest

from churn.delivery import offload, package, predlog, serve, validation
from churn.delivery.samples import request_rows
from delivery_helpers import bundled, serving

#: Unknown keys in a body that keeps the checking process busy for a while.
MANY_KEYS = 390_000


@pytest.fixture(autouse=True)
def fresh_process():
    offload.shutdown()
    yield
    offload.shutdown()


def _state(pid: int) -> str:
    """The process's state letter (`Z` for a zombie), or "" once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[0]


def _gone(pid: int, within: float = 10.0) -> bool:
    # A zombie has ended: only its parent (or an init that does not reap) holds it.
    deadline = time.monotonic() + within
    while _state(pid) not in ("", "Z"):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def _workers(pid: int) -> list[int]:
    """The pool processes `pid` started (not multiprocessing's resource tracker)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline:
                found.append(int(child))
    return found


def _post(client: httpx.AsyncClient, raw: bytes):
    return client.post(
        "/predict", content=raw, headers={"Content-Type": "application/json"}
    )


async def _killed_on(client: httpx.AsyncClient, raw: bytes) -> httpx.Response:
    """The answer to `raw` when each checking process given it is killed on it."""
    (first,) = offload.pids()
    idle = _cpu_ticks(first)
    pending = asyncio.ensure_future(_post(client, raw))
    # The first once it has started on the body, whatever the machine's speed;
    # the one that is then given the body again as soon as it is there.
    deadline = time.monotonic() + 30
    while _cpu_ticks(first) < idle + 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    os.kill(first, signal.SIGKILL)
    while not (again := [p for p in offload.pids() if p != first]):
        assert time.monotonic() < deadline, "no second checking process"
        await asyncio.sleep(0.005)
    os.kill(again[0], signal.SIGKILL)
    return await pending


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


@pytest.mark.parametrize(
    "body",
    [
        {"customers": [[0] * 100_000]},  # an array where a customer belongs
        [0] * 100_000,  # an array where the request object belongs
        {"customers": [], "extra": {f"k{i}": 0 for i in range(100_000)}},
    ],
)
def test_the_outcome_sent_back_is_small_and_words_the_same_422(body) -> None:
    # The service unpickles the outcome in its own interpreter: an error that
    # carried the whole offending array along held /health up while it did.
    raw = orjson.dumps(body)
    outcome = offload.check(raw, max_depth=8, limit=5, max_errors=3)
    assert outcome.total >= 1 and len(pickle.dumps(outcome)) < 2_000
    # What the 422 says is what the error with its whole input said.
    whole = body
    for part in outcome.errors[0]["loc"][1:]:
        whole = whole[part]
    assert outcome.errors[0]["input"] == type(whole)()
    untrimmed = [{**outcome.errors[0], "input": whole}, *outcome.errors[1:]]
    assert validation.answer(untrimmed, outcome.total) == validation.answer(
        outcome.errors, outcome.total
    )


def test_a_declined_body_is_checked_in_another_process(built: Path) -> None:
    app = serve.create_app(package.load(built))
    assert offload.pids() == []

    async def go() -> list[int]:
        async with _client(app) as client:
            answer = await _post(client, b'{"customers": [{"tenure": "x"}]}')
            assert answer.status_code == 422, answer.text
            assert "customers[0].tenure" in answer.json()["message"]
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
            # Killed while it works on a body, and its successor too: a 503.
            (second,) = offload.pids()
            assert second != first
            lost = await _killed_on(client, slow)
            recovered = await _post(client, b'{"customers": [{}]}')
            return warm, after_idle, lost, recovered

    warm, after_idle, lost, recovered = asyncio.run(go())
    assert warm.status_code == after_idle.status_code == 422
    assert lost.status_code == 503, lost.text
    assert lost.headers["retry-after"] == "1"
    assert "stopped twice while checking" in lost.json()["message"]
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


def test_ctrl_c_stops_the_service_and_its_checking_process(built_archive: Path) -> None:
    # Ctrl-C signals the service and the checking process alike: the service
    # stops it once it has answered, and neither prints a traceback.
    with serving(built_archive, "--no-access-log") as svc:
        request = urllib.request.Request(
            svc.url + "/predict",
            data=b'{"customers": [{}]}',
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 422
        refused.value.close()
        (checker,) = _workers(svc.process.pid)
        for pid in (checker, svc.process.pid):
            os.kill(pid, signal.SIGINT)
        svc.process.wait(timeout=30)
        assert _gone(checker), "the checking process outlived the service"
    assert not any("Traceback" in line for line in svc.log_lines), svc.log_lines


def test_a_lost_body_is_logged_as_such(built: Path, tmp_path: Path) -> None:
    plog = predlog.PredictionLog(tmp_path / "log", model="churn-model", version="1")
    app = serve.create_app(package.load(built), plog=plog)
    slow = orjson.dumps({"customers": [{f"k{i}": i for i in range(MANY_KEYS)}]})

    async def go() -> httpx.Response:
        async with _client(app) as client:
            await _post(client, b'{"customers": [{}]}')
            return await _killed_on(client, slow)

    assert asyncio.run(go()).status_code == 503
    plog.close()
    records = [
        json.loads(line)
        for path in sorted((tmp_path / "log").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    refused = [r["rules"] for r in records if r["kind"] == "refused"]
    assert refused[-1] == ["body: worker_lost"], refused
