"""Models, packages and requests for the delivery tests, built from the real data."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.pipeline import Pipeline

from churn import contract, model_io
from churn.data import ingest
from churn.delivery import monitor, package, samples, smoke
from churn.pipeline import modelcard, prepare, train
from conftest import ROOT, SOURCE

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


@functools.cache
def bundled() -> pd.DataFrame:
    """The bundled batch as ingest types it."""
    return ingest.read_batch(SOURCE)


@functools.cache
def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The prepared train and test split, as the pipeline makes them."""
    return prepare.split(
        prepare.clean(bundled()),
        test_size=PARAMS["prepare"]["test_size"],
        seed=PARAMS["seed"],
    )


@functools.cache
def fitted(estimator: str = "logistic_regression") -> Pipeline:
    """The pipeline's model, fitted on the train split (small boosting for speed)."""
    params = {**PARAMS["train"], "estimator": estimator}
    if estimator == "hist_gradient_boosting":
        params["hist_gradient_boosting"] = {**params[estimator], "max_iter": 30}
    data = split()[0]
    return train.train(
        data.drop(columns=[contract.TARGET]),
        data[contract.TARGET],
        params=params,
        seed=PARAMS["seed"],
    )


def reference_proba(model: Pipeline, table: pd.DataFrame) -> np.ndarray:
    """Probabilities the way the pipeline computes them: clean, then the model."""
    features = prepare.clean(table)[contract.feature_names()]
    return model.predict_proba(features)[:, 1]


def source_env() -> dict[str, str]:
    """This process's environment, with this checkout's sources on the import path."""
    return {**os.environ, "PYTHONPATH": str(ROOT / "src")}


@contextmanager
def serving(built: Path, *args: str) -> Iterator[smoke.Service]:
    """`churn serve` on the package `built`, with `args`, from this checkout."""
    with smoke.running(built, env=source_env(), extra_args=args) as service:
        yield service


def build_package(
    out: Path,
    model: Pipeline | None = None,
    *,
    version: str = "1.0.0",
    params: dict[str, Any] | None = None,
    cards: list[Path] | None = None,
    training: tuple[pd.DataFrame, pd.DataFrame] | None | bool = True,
) -> Path:
    """A real package of `model` (default: the fitted logistic regression), with
    the reference profile of the training data unless `training` is None.

    Without the pipeline's card files (`cards`), the card is rendered by
    `churn.pipeline.modelcard` from the same lock, params and metrics.
    """
    model_file = out / "work" / "model.skops"
    model_io.save(model or fitted(), model_file)
    table = bundled()
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    params = params or PARAMS
    metrics = json.loads((ROOT / "metrics" / "metrics.json").read_text())
    card = cards or modelcard.build(
        lock=lock,
        params=params,
        metrics=metrics,
        model_validation=None,
        drift_result=None,
        commit="0" * 40,
        dirty=[],
        now=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )
    return package.build(
        out / "dist",
        version=version,
        model_file=model_file,
        params=params,
        metrics=metrics,
        lock=lock,
        validation={"rows": len(table)},
        customers=samples.pick_examples(table, split()[1][contract.ID], 5),
        card=card,
        commit="0" * 40,
        training=split() if training is True else training,
    )


def write_log(folder: Path, built: Path, month: int, rows: int | None = None) -> Path:
    """A prediction log of `month`'s customers (shifted as params.yaml says), as
    `churn serve --log-dir` writes it, scored in process by the package at `built`."""
    from churn.delivery import predlog, scorer, traffic

    pkg = package.load(built)
    score = scorer.from_model(pkg.model)
    customers = samples.request_rows(traffic.month_customers(PARAMS, month))[:rows]
    plog = predlog.PredictionLog(
        folder, model=pkg.manifest["name"], version=pkg.version
    )
    for start in range(0, len(customers), 100):
        chunk = customers[start : start + 100]
        plog.scored([c[contract.ID] for c in chunk], chunk, score.proba(chunk))
    plog.close()
    return folder


def run_monitor(tmp_path: Path, *args: str) -> tuple[int, dict]:
    """`churn monitor ARGS --out tmp_path/out`: its exit code and `monitor.json`,
    after checking that it wrote its report."""
    out = tmp_path / "out"
    code = monitor.main([*args, "--out", str(out)])
    result = json.loads((out / "monitor.json").read_text())
    assert (out / "monitor.md").read_text().startswith("# Monitor: ")
    return code, result
