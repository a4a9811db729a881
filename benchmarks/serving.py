"""Prediction speed: this project's service next to `mlflow models serve`, one model.

Run from a checkout where the pipeline has run (`run.py` runs it in its clone):

    python benchmarks/serving.py --single 300 --batch 1000 --batch-repeats 50

It measures, on the same machine and in the same run:

- in process: one-row `predict_proba` on a DataFrame (plain scikit-learn) and the
  service's own scorer (`churn.delivery.scorer`), p50/p99, and both on a batch (rows/s);
- over HTTP: `churn serve` on the packaged model (`POST /predict`), started as a real
  process on a loopback port, one customer per request (p50/p99, one kept-alive
  connection, as a client would) and `--batch` customers per request (rows/s);
  with MLflow (below) running too, the two services take turns in five blocks;
- the same over HTTP for `mlflow models serve --env-manager local` serving the same
  fitted pipeline (`mlflow.sklearn.save_model`, `pyfunc_predict_fn="predict_proba"`,
  `POST /invocations` with `dataframe_split`), when MLflow is installed
  (the `bench` extra, which `make install` installs); otherwise that part is reported
  as skipped;
- the largest difference between the probabilities each path returned for the batch
  and the pipeline's own `predict_proba` on the cleaned rows.

Both services run with their default logging. One JSON object goes to standard output.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hostile
import numpy as np
import pandas as pd

from churn import config, contract
from churn.delivery import package, samples, scorer, smoke
from churn.pipeline import prepare

log = logging.getLogger("benchmark.serving")

#: Largest difference allowed between any path's probabilities and scikit-learn's.
TOLERANCE = 1e-9
_LISTENING = re.compile(r"Uvicorn running on http://([\d.]+):(\d+)")


def customers(rows: int) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    """`rows` ingested customers as request rows, and the model's input for them."""
    raw = pd.read_parquet(config.RAW_DATA)
    if len(raw) < rows:
        # Small scaled-down checkouts: repeat customers rather than shrink the batch.
        raw = pd.concat([raw] * (rows // len(raw) + 1), ignore_index=True)
    raw = raw.head(rows).reset_index(drop=True)
    frame = prepare.clean(raw)[contract.feature_names()].reset_index(drop=True)
    return samples.request_rows(raw), frame


def timed(call: Callable[[], Any], times: int, warmup: int) -> list[float]:
    """Seconds each of `times` calls took, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    out = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        out.append(time.perf_counter() - start)
    return out


def latency(seconds: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    return {
        "p50_ms": float(np.percentile(seconds, 50) * 1e3),
        "p99_ms": float(np.percentile(seconds, 99) * 1e3),
        "calls": len(seconds),
    }


def throughput(seconds: list[float], rows: int) -> dict[str, float]:
    """Rows per second of the median call, and that call's milliseconds."""
    median = float(np.median(seconds))
    return {"rows": rows, "p50_ms": median * 1e3, "rows_per_s": rows / median}


class Client:
    """POSTs JSON over one kept-alive connection, as a real client would."""

    def __init__(self, url: str) -> None:
        host, port = url.split("//", 1)[1].rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)

    def post(self, path: str, body: bytes) -> bytes:
        """The response body; anything but 200 is an error."""
        self.conn.request(
            "POST", path, body=body, headers={"Content-Type": "application/json"}
        )
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"POST {path}: {resp.status} {data[:300]!r}")
        return data

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


@dataclass
class Endpoint:
    """One service to measure: where to send, and the requests it takes."""

    name: str
    client: Client
    path: str
    singles: list[bytes]
    batch: bytes

    def seconds(self, body: bytes) -> float:
        """How long one request with `body` took, answer read."""
        start = time.perf_counter()
        self.client.post(self.path, body)
        return time.perf_counter() - start


#: Turns each service takes: blocks short enough that a change in the machine's load
#: falls on every service alike, long enough that none runs with the other's
#: memory in the CPU caches.
ROUNDS = 5


def measure_http(
    endpoints: list[Endpoint], *, batch_rows: int, batch_repeats: int
) -> dict[str, tuple[dict[str, Any], bytes]]:
    """One-customer latency and batch throughput of every endpoint, and its answer
    to the batch; the endpoints take `ROUNDS` turns each."""
    single: dict[str, list[float]] = {e.name: [] for e in endpoints}
    batch: dict[str, list[float]] = {e.name: [] for e in endpoints}
    answers: dict[str, bytes] = {}
    for turn in range(ROUNDS):
        for e in endpoints:
            # Untimed requests first: the first answers after a pause are slower.
            for body in e.singles[:3]:
                e.client.post(e.path, body)
            answers[e.name] = e.client.post(e.path, e.batch)
            for body in e.singles[turn::ROUNDS]:
                single[e.name].append(e.seconds(body))
            for _ in range(turn, batch_repeats, ROUNDS):
                batch[e.name].append(e.seconds(e.batch))
    return {
        e.name: (
            {
                "single": latency(single[e.name]),
                "batch": throughput(batch[e.name], batch_rows),
            },
            answers[e.name],
        )
        for e in endpoints
    }


def in_process(
    model: Any, rows: list[dict[str, Any]], frame: pd.DataFrame, single: int, reps: int
) -> dict[str, Any]:
    """The fitted pipeline and the service's scorer, called directly."""
    features = [{k: r[k] for k in contract.feature_names()} for r in rows]
    fast = scorer.from_model(model)
    one_frames = [frame.iloc[[i % len(frame)]] for i in range(single)]
    frames = iter(one_frames)
    one_rows = iter(
        features[i % len(features) : i % len(features) + 1] for i in range(single)
    )
    return {
        "sklearn_dataframe": {
            "single": latency(
                timed(lambda: model.predict_proba(next(frames)), single, 0)
            ),
            "batch": throughput(
                timed(lambda: model.predict_proba(frame), reps, 1), len(frame)
            ),
        },
        "scorer": {
            "kind": type(fast).__name__,
            "single": latency(timed(lambda: fast.proba(next(one_rows)), single, 0)),
            "batch": throughput(
                timed(lambda: fast.proba(features), reps, 1), len(frame)
            ),
        },
    }


def churn_requests(
    rows: list[dict[str, Any]], single: int
) -> tuple[list[bytes], bytes]:
    """`POST /predict` bodies: one customer each, and the whole batch."""
    singles = [
        json.dumps({"customers": [rows[i % len(rows)]]}).encode() for i in range(single)
    ]
    return singles, json.dumps({"customers": rows}).encode()


def mlflow_requests(frame: pd.DataFrame, single: int) -> tuple[list[bytes], bytes]:
    """`POST /invocations` bodies (`dataframe_split`) for the same customers."""

    def body(part: pd.DataFrame) -> bytes:
        split = json.loads(part.to_json(orient="split", index=False))
        return json.dumps({"dataframe_split": split}).encode()

    return [body(frame.iloc[[i % len(frame)]]) for i in range(single)], body(frame)


@contextmanager
def mlflow_serving(
    model_dir: Path, log_file: Path, timeout: float = 120
) -> Iterator[str]:
    """`mlflow models serve` on a free loopback port until the block ends; its URL."""
    env = dict(os.environ)
    # MLflow starts `uvicorn` by name, so this interpreter's scripts go first.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    cmd = [sys.executable, "-m", "mlflow", "models", "serve", "-m", str(model_dir)]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", "0"]
    with log_file.open("w") as err:
        proc = subprocess.Popen(
            cmd, env=env, stdout=err, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            match = _LISTENING.search(log_file.read_text())
            if match:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log_file.read_text()[-3000:]
                raise RuntimeError(f"mlflow models serve did not start:\n{tail}")
            time.sleep(0.2)
        yield f"http://{match.group(1)}:{match.group(2)}"
    finally:
        # MLflow runs uvicorn as a child; the session holds both.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def compare(
    name: str, ours: dict[str, Any], theirs: dict[str, Any]
) -> dict[str, float | str]:
    """How `ours` compares with `theirs`: latency and throughput ratios."""
    return {
        "against": name,
        "single_p50_ratio": ours["single"]["p50_ms"] / theirs["single"]["p50_ms"],
        "batch_throughput_ratio": ours["batch"]["rows_per_s"]
        / theirs["batch"]["rows_per_s"],
    }


def run(
    single: int,
    batch_rows: int,
    batch_repeats: int,
    monitor_rows: int,
    health_probes: int,
) -> dict[str, Any]:
    """Every measurement; the JSON-ready result."""
    rows, frame = customers(batch_rows)
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp, ExitStack() as up:
        work = Path(tmp)
        log.info("packaging the model")
        pkg_path = package.build_from_workspace(
            work / "dist",
            package.DEV_VERSION,
            config.load_params(),
            enforce_floor=False,
        )
        model = package.load(pkg_path).model
        reference = model.predict_proba(frame)[:, 1]
        log.info("in process: %d single rows, batches of %d", single, len(frame))
        result: dict[str, Any] = {
            "in_process": in_process(model, rows, frame, single, batch_repeats)
        }
        log.info("starting churn serve")
        service = up.enter_context(smoke.running(pkg_path))
        ours = Endpoint(
            "http", Client(service.url), "/predict", *churn_requests(rows, single)
        )
        up.callback(ours.client.close)
        # The same service writing its prediction log, to price the log.
        logging_service = up.enter_context(
            smoke.running(pkg_path, extra_args=("--log-dir", str(work / "log")))
        )
        logged = Endpoint(
            "http_logged",
            Client(logging_service.url),
            "/predict",
            *churn_requests(rows, single),
        )
        up.callback(logged.client.close)
        endpoints = [ours, logged]
        result["http"] = {"command": "churn serve --package ..."}
        result["http_logged"] = {"command": "churn serve --package ... --log-dir ..."}
        if importlib.util.find_spec("mlflow") is None:
            result["mlflow"] = {
                "skipped": "MLflow is not installed (`make install` installs it)"
            }
        else:
            import mlflow
            import mlflow.sklearn

            log.info("starting mlflow models serve on the same fitted pipeline")
            model_dir = work / "mlflow-model"
            mlflow.sklearn.save_model(
                model, model_dir, pyfunc_predict_fn="predict_proba"
            )
            url = up.enter_context(mlflow_serving(model_dir, work / "mlflow-serve.log"))
            theirs = Endpoint(
                "mlflow", Client(url), "/invocations", *mlflow_requests(frame, single)
            )
            up.callback(theirs.client.close)
            endpoints.append(theirs)
            result["mlflow"] = {
                "command": "mlflow models serve --env-manager local",
                "version": mlflow.__version__,
            }
        log.info("over HTTP: %s, taking turns", ", ".join(e.name for e in endpoints))
        measured = measure_http(
            endpoints, batch_rows=len(rows), batch_repeats=batch_repeats
        )
        log.info("hostile input: refusals, and /health under a burst of them")
        result["hostile"] = {
            "refusals": hostile.refusals(service.url, repeats=3),
            "health_under_burst": hostile.health_under_burst(
                service.url, probes=health_probes
            ),
            "health_under_crafted": {
                name: hostile.health_under_burst(
                    service.url, probes=health_probes, body=raw
                )
                for name, raw in hostile.crafted_bodies().items()
            },
        }
        log.info("churn monitor on a log of %d customers", monitor_rows)
        result["monitor"] = hostile.monitor_throughput(
            pkg_path, monitor_rows, work / "monitor", dict(os.environ)
        )
    answers = {}
    for name, (figures, answer) in measured.items():
        result[name].update(figures)
        predictions = json.loads(answer)["predictions"]
        answers[name] = np.array(
            [p["churn_probability"] for p in predictions]
            if name.startswith("http")
            else [p[1] for p in predictions]
        )
    fast = scorer.from_model(model).proba(
        [{k: r[k] for k in contract.feature_names()} for r in rows]
    )
    differences = {"scorer": fast, **answers}
    result["log_overhead"] = compare(
        "churn serve without the log", result["http_logged"], result["http"]
    )
    if "mlflow" in answers:
        result["versus_mlflow"] = compare("mlflow", result["http"], result["mlflow"])
    result["max_abs_difference"] = {
        name: float(np.max(np.abs(values - reference)))
        for name, values in differences.items()
    }
    result["identical"] = all(
        d <= TOLERANCE for d in result["max_abs_difference"].values()
    )
    result["tolerance"] = TOLERANCE
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point: measure, then print the result as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=300, help="one-row requests")
    parser.add_argument("--batch", type=int, default=1000, help="rows per batch")
    parser.add_argument("--batch-repeats", type=int, default=50)
    parser.add_argument(
        "--monitor-rows", type=int, default=1_000_000, help="logged customers"
    )
    parser.add_argument(
        "--health-probes", type=int, default=200, help="GET /health per burst"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    result = run(
        args.single,
        args.batch,
        args.batch_repeats,
        args.monitor_rows,
        args.health_probes,
    )
    sys.stdout.write(json.dumps(result, indent=2) + "\n")
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
