"""Paths of the project, derived from its root, and access to `params.yaml`.

Nothing here creates directories or reads files on import.
"""

from __future__ import annotations

import logging
import os
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

PARAMS_FILE = ROOT / "params.yaml"
DATA_DIR = ROOT / "data"
RAW_DATA = DATA_DIR / "raw" / "churn.parquet"
TRAIN_DATA = DATA_DIR / "prepared" / "train.parquet"
TEST_DATA = DATA_DIR / "prepared" / "test.parquet"
GX_DIR = ROOT / "gx"
MODEL_FILE = ROOT / "models" / "model.skops"
METRICS_DIR = ROOT / "metrics"
VALIDATION_METRICS = METRICS_DIR / "validation.json"
MODEL_METRICS = METRICS_DIR / "metrics.json"
PLOTS_DIR = ROOT / "plots"
REPORTS_DIR = ROOT / "reports"
VALIDATION_RESULT = REPORTS_DIR / "validation" / "result.json"
PREDICTIONS = METRICS_DIR / "predictions.csv"


def load_params(path: Path = PARAMS_FILE) -> dict[str, Any]:
    """The parsed `params.yaml`."""
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
