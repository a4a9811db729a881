"""Feed bad batches to the pipeline's entry points, in pipeline order, in one process.

    python run_batches.py MANIFEST OUT

Run from a project checkout with a trained pipeline (the working directory decides
which checkout `churn.config` points at). MANIFEST maps case names to CSV paths. For
each case this calls `churn.data.validate.main(["--source", path, "--source", all])`
as the `validate` stage does (the bad batch in the place of the newest month, the
checkout's good table after it, which must never be reached); only if validation
passed would it go on, as DVC does, to
`churn.data.ingest.main`. It also calls `churn.data.ingest.main` with a scratch
`--out`, to
record what ingest alone says. Around each case it hashes every file a bad batch must
not change. OUT receives, per case: exit codes, the log text, the validation summary
and the hashes before and after.

Running all cases in one process imports Great Expectations once instead of once per
case, which is most of the cost of a case.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import sys
from pathlib import Path

from churn import config
from churn.data import ingest, validate

#: What a rejected batch must leave byte for byte as it was.
GUARDED = (
    "dvc.lock",
    "models/model.skops",
    "metrics/metrics.json",
    "metrics/predictions.csv",
    "data/raw/churn.parquet",
    "data/prepared/train.parquet",
    "data/prepared/test.parquet",
    "plots/roc.json",
    "plots/precision_recall.json",
    "plots/calibration.json",
    "plots/importance.json",
    "plots/confusion.csv",
)


def digest(root: Path) -> dict[str, str]:
    """sha256 of every guarded file under `root` ("missing" if absent)."""
    out = {}
    for name in GUARDED:
        path = root / name
        out[name] = (
            hashlib.sha256(path.read_bytes()).hexdigest()
            if path.exists()
            else "missing"
        )
    return out


def call(entry, argv: list[str], buffer: io.StringIO) -> tuple[int, str]:
    """Run an entry point's `main(argv)`; return its exit code and what it logged."""
    buffer.seek(0)
    buffer.truncate()
    code = entry(argv)
    return code, buffer.getvalue()


def main(argv: list[str]) -> int:
    manifest, out = (Path(a) for a in argv)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root_logger = logging.getLogger()
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.INFO)
    scratch = out.parent / "ingest-scratch.parquet"
    results = {}
    table = str(config.resolve(config.load_params()["ingest"]["source"]))
    for name, source in json.loads(manifest.read_text()).items():
        before = digest(config.ROOT)
        argv = ["--source", source, "--source", table]
        code, log = call(validate.main, argv, buffer)
        downstream = None
        if code == 0:
            downstream = call(ingest.main, ["--source", source], buffer)
        scratch.unlink(missing_ok=True)
        ingest_code, ingest_log = call(
            ingest.main, ["--source", source, "--out", str(scratch)], buffer
        )
        report = config.VALIDATION_RESULT
        results[name] = {
            "validate_exit": code,
            "validate_log": log,
            "downstream": downstream,
            "summary": json.loads(report.read_text())["summary"]
            if report.exists()
            else None,
            "data_docs": config.DATA_DOCS.exists(),
            "ingest_exit": ingest_code,
            "ingest_log": ingest_log,
            "ingest_wrote": scratch.exists(),
            "before": before,
            "after": digest(config.ROOT),
        }
    out.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
