"""What the service and the monitor cost where nobody is friendly or small.

Measured by `serving.py` on the same package, in the same run as the friendly
figures:

- refusals: how long `churn serve` takes to answer the worst bodies it refuses
  (one customer with hundreds of thousands of unknown keys, thousands of empty
  customers), and that the answer is a 422;
- `/health` while three clients keep sending those bodies: the latency of the one
  request every health check depends on; and the same while they send bodies
  crafted to be slow to parse (`crafted_bodies`);
- `churn monitor` on a prediction log of many rows: rows per second and peak memory.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from timing import measure

from churn import config, contract
from churn.delivery import package, predlog, samples, scorer

#: Unknown keys in the worst one-customer body: about 7 MB, under the body limit.
UNKNOWN_KEYS = 390_000
#: Empty customers in the other bad batch.
EMPTY_CUSTOMERS = 10_000
#: Numbers in the array of the crafted body: 8 MB, under the body limit.
LONG_ARRAY = 4_000_000
#: Customers per line of the synthetic prediction log, as a batch client sends.
PER_LINE = 1000


def bad_bodies() -> dict[str, bytes]:
    """The refused bodies, by name."""
    keys = {f"k{i}": 0 for i in range(UNKNOWN_KEYS)}
    return {
        "one customer, 390,000 unknown keys": orjson.dumps({"customers": [keys]}),
        "10,000 empty customers": orjson.dumps({"customers": [{}] * EMPTY_CUSTOMERS}),
    }


def crafted_bodies() -> dict[str, bytes]:
    """Refused bodies shaped to be slow to parse rather than to check, by name."""
    empty = {f"k{i}": {} for i in range(UNKNOWN_KEYS)}
    numbers = b",".join([b"0"] * LONG_ARRAY)
    return {
        "390,000 empty objects as values": orjson.dumps({"customers": [empty]}),
        "an array of 4,000,000 numbers": b'{"customers": [[' + numbers + b"]]}",
    }


def _post(host: str, port: int, path: str, body: bytes) -> tuple[int, float]:
    conn = http.client.HTTPConnection(host, port, timeout=120)
    start = time.perf_counter()
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    return resp.status, time.perf_counter() - start


def _address(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return host, int(port)


def refusals(url: str, repeats: int) -> dict[str, Any]:
    """Median seconds to refuse each bad body, and the statuses seen."""
    host, port = _address(url)
    out = {}
    for name, body in bad_bodies().items():
        seen = [_post(host, port, "/predict", body) for _ in range(repeats)]
        out[name] = {
            "bytes": len(body),
            "statuses": sorted({status for status, _ in seen}),
            "median_s": statistics.median(s for _, s in seen),
        }
    return out


def health_under_burst(
    url: str, probes: int, senders: int = 3, body: bytes | None = None
) -> dict[str, Any]:
    """`/health` latency (ms) while `senders` clients keep posting `body` (default:
    the worst of `bad_bodies`)."""
    host, port = _address(url)
    body = body if body is not None else next(iter(bad_bodies().values()))
    stop = threading.Event()

    def send() -> None:
        while not stop.is_set():
            _post(host, port, "/predict", body)

    threads = [threading.Thread(target=send, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    seconds = []
    try:
        for _ in range(probes):
            conn = http.client.HTTPConnection(host, port, timeout=30)
            start = time.perf_counter()
            conn.request("GET", "/health")
            conn.getresponse().read()
            seconds.append(time.perf_counter() - start)
            conn.close()
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
    ms = sorted(s * 1e3 for s in seconds)
    return {
        "probes": probes,
        "senders": senders,
        "p50_ms": ms[len(ms) // 2],
        "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "max_ms": ms[-1],
    }


def write_log(folder: Path, pkg_path: Path, rows: int) -> int:
    """A prediction log of `rows` real customers as `churn serve --log-dir` writes
    it, `PER_LINE` to a line; returns the customers written."""
    pkg = package.load(pkg_path)
    score = scorer.from_model(pkg.model)
    table = pd.read_parquet(config.RAW_DATA)
    customers = samples.request_rows(table)
    lines = []
    for start in range(0, len(customers) - PER_LINE + 1, PER_LINE):
        chunk = customers[start : start + PER_LINE]
        record = {
            "kind": "scored",
            "ts": predlog.timestamp(time.time()),
            "model": pkg.manifest["name"],
            "version": pkg.version,
            "customer_id": [c[contract.ID] for c in chunk],
            "features": {f: [c[f] for c in chunk] for f in contract.feature_names()},
            "churn_probability": score.proba(chunk).tolist(),
        }
        lines.append(orjson.dumps(record) + b"\n")
    folder.mkdir(parents=True, exist_ok=True)
    written, number = 0, 0
    while written < rows:
        number += 1
        with (folder / f"predictions-{number:08d}.jsonl").open("wb") as fh:
            size = 0
            while written < rows and size < predlog.FILE_BYTES // 2:
                line = lines[(written // PER_LINE) % len(lines)]
                fh.write(line)
                size += len(line)
                written += PER_LINE
    return written


def monitor_throughput(pkg_path: Path, rows: int, work: Path, env: dict) -> dict:
    """`churn monitor` on a log of `rows` customers: time, rows/s, peak memory."""
    folder = work / "monitor-log"
    written = write_log(folder, pkg_path, rows)
    out = work / "monitor-out"
    cmd = (
        f"{sys.executable} -m churn monitor --log-dir {folder} "
        f"--package {pkg_path} --out {out}"
    )
    run = measure(cmd, Path.cwd(), env, importtime=False)
    result = json.loads((out / "monitor.json").read_text())
    return {
        "rows": result["rows"],
        "logged": written,
        "exit": run.returncode,
        "wall_s": run.wall_s,
        "rows_per_s": result["rows"] / run.wall_s,
        "peak_rss_mb": run.peak_rss_mb,
        "verdict": result["verdict"],
    }
