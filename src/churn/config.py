"""Paths of the project, derived from its root, and access to `params.yaml`.

Nothing here creates directories or reads files on import.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


def find_root(start: Path) -> Path:
    """The nearest folder at or above `start` that holds `dvc.yaml`.

    Falls back to the checkout this module lives in, so imports work from anywhere.
    """
    for folder in (start, *start.parents):
        if (folder / "dvc.yaml").is_file():
            return folder
    return Path(__file__).resolve().parents[2]


#: The project root. DVC runs every stage from the root, so the working directory
#: decides which checkout a stage reads and writes; `CHURN_ROOT` overrides it.
ROOT = Path(os.environ.get("CHURN_ROOT") or find_root(Path.cwd()))


@dataclass(frozen=True)
class Files:
    """Every file the pipeline, the review and the delivery code read or write.

    Named once, relative to the project root: the form `dvc.lock`, `git show` and
    `dvc metrics` use. `ROOT / FILES.model` is the file in this checkout;
    `root / FILES.model` the same file in another workspace.
    """

    params: str = "params.yaml"
    #: Written by the `params` stage when every value is valid; the others read it.
    params_check: str = "metrics/params.json"
    lock: str = "dvc.lock"
    latest_batch: str = "data/batches/latest.csv"
    all_batches: str = "data/batches/all.csv"
    #: `validate`'s typed copy of `ingest.source`, written once it passed: what
    #: `ingest` reads, so that the table is parsed from CSV once per run.
    validated: str = "data/batches/all.parquet"
    #: Where the months fall in the upstream's ids, written by `batches`: what
    #: `ingest` tags months by, without parsing the upstream again.
    months: str = "data/batches/months.json"
    raw: str = "data/raw/churn.parquet"
    train: str = "data/prepared/train.parquet"
    test: str = "data/prepared/test.parquet"
    model: str = "models/model.skops"
    validation: str = "metrics/validation.json"
    metrics: str = "metrics/metrics.json"
    predictions: str = "metrics/predictions.csv"
    slices: str = "metrics/slices.json"
    drift: str = "metrics/drift.json"
    #: `compare`'s whole result, every test metric of both models.
    model_validation: str = "metrics/model_validation.json"
    #: `compare`'s verdict on its headline metric: the registered DVC metric.
    compare: str = "metrics/compare.json"
    #: Evaluate's plots are `plots/<name>.json` (and `confusion.csv`) in here.
    plots: str = "plots"
    drift_plot: str = "plots/drift.json"
    validation_result: str = "reports/validation/result.json"
    data_docs: str = "reports/validation/data_docs/index.html"
    card_md: str = "reports/model_card.md"
    card_json: str = "reports/model_card.json"
    #: `churn monitor`'s report: monitor.md, monitor.json and its plots.
    monitor: str = "reports/monitor"
    dist: str = "dist"
    #: `churn plots`: every plot on one page that needs no network.
    plots_page: str = "dvc_plots/index.html"


FILES = Files()

PARAMS_FILE = ROOT / FILES.params
PARAMS_CHECK = ROOT / FILES.params_check
LOCK_FILE = ROOT / FILES.lock
DATA_DIR = ROOT / "data"
LATEST_BATCH = ROOT / FILES.latest_batch
ALL_BATCHES = ROOT / FILES.all_batches
VALIDATED_TABLE = ROOT / FILES.validated
MONTHS_FILE = ROOT / FILES.months
RAW_DATA = ROOT / FILES.raw
TRAIN_DATA = ROOT / FILES.train
TEST_DATA = ROOT / FILES.test
GX_DIR = ROOT / "gx"
MODEL_FILE = ROOT / FILES.model
METRICS_DIR = ROOT / "metrics"
VALIDATION_METRICS = ROOT / FILES.validation
MODEL_METRICS = ROOT / FILES.metrics
PREDICTIONS = ROOT / FILES.predictions
SLICES = ROOT / FILES.slices
DRIFT_METRICS = ROOT / FILES.drift
MODEL_VALIDATION = ROOT / FILES.model_validation
COMPARE_METRICS = ROOT / FILES.compare
PLOTS_DIR = ROOT / FILES.plots
DRIFT_PLOT = ROOT / FILES.drift_plot
REPORTS_DIR = ROOT / "reports"
VALIDATION_RESULT = ROOT / FILES.validation_result
DATA_DOCS = ROOT / FILES.data_docs
CARD_MD = ROOT / FILES.card_md
CARD_JSON = ROOT / FILES.card_json
MONITOR_DIR = ROOT / FILES.monitor
DIST_DIR = ROOT / FILES.dist
PLOTS_PAGE = ROOT / FILES.plots_page


#: What `load_params` raises for a file it cannot read or parse: missing or
#: unreadable, not UTF-8, or not YAML.
PARAMS_READ_ERRORS = (OSError, UnicodeDecodeError, yaml.YAMLError)


def load_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The parsed `params.yaml`; one of `PARAMS_READ_ERRORS` if it cannot be read."""
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def resolve(path: str | Path) -> Path:
    """A path from `params.yaml`, taken relative to the project root."""
    path = Path(path)
    return path if path.is_absolute() else ROOT / path


def setup_logging(level: int = logging.INFO) -> None:
    """Configure logging for an entry point: one line per record, on stderr."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # Great Expectations logs its internals at INFO; keep its warnings only.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
