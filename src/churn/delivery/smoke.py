"""Smoke test of a model package: start the real service on it and send requests.

`churn smoke --package dist/churn-model-1.2.0.tar.gz` runs `churn serve` on a free
loopback port as a separate process and checks, over HTTP, that it is healthy, that it
reports the package's version and hash, that it answers the package's own example
request with the probabilities recorded at packaging time (to 1e-9), and that it
refuses a request that breaks the contract, naming the field. The release workflow
runs it before anything is published.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from churn import config
from churn.delivery import package

log = logging.getLogger(__name__)

#: Largest difference allowed between served and recorded probabilities.
TOLERANCE = 1e-9
_LISTENING = re.compile(r"Uvicorn running on http://([\d.]+):(\d+)")


class SmokeError(RuntimeError):
    """The service did not start, or answered wrongly."""


@dataclass(frozen=True)
class Reply:
    """One HTTP response: status code and decoded JSON body (None if not JSON)."""

    status: int
    body: Any


def request(
    url: str,
    *,
    data: bytes | None = None,
    content_type: str = "application/json",
    timeout: float = 30,
) -> Reply:
    """GET `url`, or POST `data` to it; any status is returned, not raised."""
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    if data is not None:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return Reply(status, json.loads(raw))
    except ValueError:
        return Reply(status, None)


def post_json(url: str, body: Any) -> Reply:
    """POST `body` as JSON."""
    return request(url, data=json.dumps(body).encode())


@dataclass
class Service:
    """A running `churn serve` process and where it listens."""

    process: subprocess.Popen[str]
    url: str
    log_lines: list[str]

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.process.poll() is None


def _drain(stream: Any, lines: list[str], found: threading.Event) -> None:
    for line in stream:
        lines.append(line.rstrip("\n"))
        if _LISTENING.search(line):
            found.set()
    found.set()


@contextmanager
def running(
    package_path: Path,
    *,
    python: str = sys.executable,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    extra_args: tuple[str, ...] = (),
) -> Iterator[Service]:
    """Run `python -m churn.delivery.serve --package ... --port 0` until the block ends.

    Port 0 lets the operating system pick a free port; the port is read from
    uvicorn's start-up line, so nothing else can take it in between.
    """
    cmd = [python, "-m", "churn.delivery.serve", "--package", str(package_path)]
    cmd += ["--host", "127.0.0.1", "--port", "0", *extra_args]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env if env is not None else os.environ.copy(),
    )
    lines: list[str] = []
    found = threading.Event()
    reader = threading.Thread(target=_drain, args=(proc.stderr, lines, found))
    reader.daemon = True
    reader.start()
    try:
        found.wait(timeout)
        match = next((m for line in lines if (m := _LISTENING.search(line))), None)
        if match is None or proc.poll() is not None:
            raise SmokeError(
                f"the service did not start within {timeout}s:\n" + "\n".join(lines)
            )
        yield Service(proc, f"http://{match.group(1)}:{match.group(2)}", lines)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()


def check(url: str, pkg: package.Package) -> list[str]:
    """Problems with the service at `url` serving `pkg`; empty if it answers right."""
    problems = []
    health = request(f"{url}/health")
    if health.status != 200 or (health.body or {}).get("version") != pkg.version:
        problems.append(f"GET /health: {health.status} {health.body}")
    info = request(f"{url}/model")
    expected = pkg.manifest["model"]["sha256"]
    if info.status != 200 or (info.body or {}).get("sha256") != expected:
        problems.append(f"GET /model: {info.status}, expected sha256 {expected}")
    examples = pkg.read_json(package.EXAMPLES)
    reply = post_json(f"{url}/predict", examples["request"])
    if reply.status != 200:
        problems.append(f"POST /predict (examples): {reply.status} {reply.body}")
    else:
        served = [p["churn_probability"] for p in reply.body["predictions"]]
        recorded = examples["churn_probability"]
        if len(served) != len(recorded) or any(
            not math.isclose(s, r, rel_tol=0, abs_tol=TOLERANCE)
            for s, r in zip(served, recorded, strict=False)
        ):
            problems.append(f"POST /predict: served {served}, recorded {recorded}")
    bad = dict(examples["request"]["customers"][0], contract="Weekly")
    refused = post_json(f"{url}/predict", {"customers": [bad]})
    if refused.status != 422 or "customers[0].contract" not in str(refused.body):
        problems.append(f"POST /predict (bad contract): {refused.status}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Entry point: smoke-test a package; exit 1 if anything is wrong."""
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn smoke",
        description=__doc__,
    )
    parser.add_argument("--package", type=Path, required=True)
    args = parser.parse_args(argv)
    config.setup_logging()
    try:
        pkg = package.load(args.package)
        with running(args.package) as service:
            log.info("service up at %s; sending requests", service.url)
            started = time.perf_counter()
            problems = check(service.url, pkg)
            elapsed = time.perf_counter() - started
    except (SmokeError, package.PackageError, ValueError) as exc:
        log.error("%s", exc)
        return 1
    for problem in problems:
        log.error("smoke test: %s", problem)
    if problems:
        return 1
    log.info(
        "smoke test passed: %s %s answered 4 requests correctly in %.2fs",
        pkg.manifest["name"],
        pkg.version,
        elapsed,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
