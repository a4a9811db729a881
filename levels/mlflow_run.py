"""The train step, tracked by MLflow instead of git: one run in a local folder.

What DVC and git record here (params in `params.yaml`, metrics in
`metrics/metrics.json`, the model in `dvc.lock`), MLflow records as a run: the
train parameters, the test metrics and the fitted model file as an artifact. It
uses the pipeline's own functions on the split `dvc repro` wrote, so the metrics are
the pipeline's. Run it after `make repro`, with the `bench` extra (MLflow), from the
repository's root:

    make repro
    .venv/bin/python levels/mlflow_run.py --tracking mlruns
    export MLFLOW_ALLOW_FILE_STORE=true MLFLOW_TRACKING_URI=mlruns
    .venv/bin/mlflow runs describe --run-id <the printed id>

The last command prints the run's params and metrics as JSON. The `bench` extra
installs `mlflow-skinny`, which has no server, so `mlflow ui` fails there (no
flask); the browser UI needs the full `mlflow` package (`pip install mlflow`),
which the project does not install.

Each call adds one run to the experiment `churn`; to try other params, change
`params.yaml` and run it again.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

from churn import config, contract, model_io
from churn.pipeline import evaluate, train

log = logging.getLogger("mlflow_run")


def flat(params: dict, prefix: str = "") -> dict[str, object]:
    """Nested params as MLflow's flat `a.b.c` keys."""
    out: dict[str, object] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def main(argv: list[str] | None = None) -> int:
    """Train with params.yaml on the pipeline's split; log the run; print its id."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tracking", type=Path, default=Path("mlruns"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    # A folder store keeps the example free of a database server; MLflow 3 asks
    # for this opt-in, since its newer features need one.
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    import mlflow

    params = config.load_params()
    data = pd.read_parquet(config.TRAIN_DATA)
    test = pd.read_parquet(config.TEST_DATA)
    model = train.train(
        data.drop(columns=[contract.TARGET]),
        data[contract.TARGET],
        params=params["train"],
        seed=params["seed"],
    )
    proba = model.predict_proba(test[contract.feature_names()])[:, 1]
    metrics = evaluate.scores(
        test[contract.TARGET].to_numpy(),
        proba,
        threshold=params["evaluate"]["threshold"],
    )
    mlflow.set_tracking_uri(args.tracking.resolve().as_uri())
    mlflow.set_experiment("churn")
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(flat({"train": params["train"], "seed": params["seed"]}))
        mlflow.log_metrics(metrics)
        saved = Path(tmp) / "model.skops"
        model_io.save(model, saved)
        mlflow.log_artifact(str(saved))
    log.info("logged run %s to %s: %s", run.info.run_id, args.tracking, metrics)
    sys.stdout.write(run.info.run_id + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
