"""Stage `validate`: check a batch against the contract's Great Expectations suite.

The batch is read exactly as `ingest` reads it and validated before `ingest` writes
anything, so a bad batch stops the pipeline with nothing changed: not the data, not
the model, not the metrics, not `dvc.lock`.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from churn import config, expectations, ingest

log = logging.getLogger(__name__)

#: How many example values each failure quotes.
EXAMPLES = 5


def summarize(result: dict[str, Any], rows: int) -> dict[str, Any]:
    """Condense a GX validation result (as JSON) into what a person needs to act.

    Returns the counts and, for each failed expectation, its type, column, unexpected
    count and share, up to five example values and the reason the rule exists.
    """
    failures = []
    for item in result["results"]:
        if item["success"]:
            continue
        cfg = item["expectation_config"]
        res = item.get("result") or {}
        examples = res.get("partial_unexpected_list")
        if examples is None and "observed_value" in res:
            examples = [res["observed_value"]]
        failures.append(
            {
                "expectation": cfg["type"],
                "column": cfg["kwargs"].get("column", "(table)"),
                "unexpected_count": res.get("unexpected_count"),
                "unexpected_share": (
                    round(res["unexpected_percent"] / 100, 6)
                    if res.get("unexpected_percent") is not None
                    else None
                ),
                "examples": [_plain(v) for v in (examples or [])[:EXAMPLES]],
                "why": (cfg.get("meta") or {}).get("why", ""),
            }
        )
    return {
        "success": not failures,
        "rows": rows,
        "expectations": len(result["results"]),
        "failed": len(failures),
        "failures": failures,
    }


def _plain(value: Any) -> Any:
    """A JSON-friendly version of an example value."""
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    return str(value)


def format_failures(summary: dict[str, Any]) -> str:
    """A compact text table of the failed expectations."""
    head = ("expectation", "column", "unexpected", "share", "examples")
    rows = [head]
    for f in summary["failures"]:
        share = f["unexpected_share"]
        rows.append(
            (
                f["expectation"],
                f["column"],
                "" if f["unexpected_count"] is None else str(f["unexpected_count"]),
                "" if share is None else f"{share:.2%}",
                ", ".join(repr(v) for v in f["examples"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True))
        + "  "
        + r[-1]
        for r in rows
    ]
    return "\n".join(lines)


def run_suite(table: pd.DataFrame, gx_root: Path = config.ROOT) -> dict[str, Any]:
    """Run the committed checkpoint over `table`; return the result as JSON.

    Also builds the Data Docs site configured in `gx/great_expectations.yml`.
    """
    import great_expectations as gx

    ctx = gx.get_context(mode="file", project_root_dir=str(gx_root))
    checkpoint = ctx.checkpoints.get(expectations.CHECKPOINT)
    outcome = checkpoint.run(batch_parameters={"dataframe": table})
    ctx.build_data_docs()
    (run_result,) = outcome.run_results.values()
    return run_result.to_json_dict()


def main(argv: list[str] | None = None) -> int:
    """Entry point: validate the source in `params.yaml`; exit 1 if anything fails."""
    parser = argparse.ArgumentParser(prog="churn validate", description=__doc__)
    parser.add_argument("--source", type=Path, help="CSV batch (default: params.yaml)")
    args = parser.parse_args(argv)
    config.setup_logging()
    source = args.source or config.resolve(config.load_params()["ingest"]["source"])
    # Start each run from an empty report folder so Data Docs show this batch only.
    shutil.rmtree(config.VALIDATION_RESULT.parent, ignore_errors=True)
    config.VALIDATION_RESULT.parent.mkdir(parents=True)
    config.VALIDATION_METRICS.parent.mkdir(parents=True, exist_ok=True)
    try:
        table = ingest.read_batch(source)
    except ingest.IngestError as exc:
        log.error("%s", exc)
        summary = {"success": False, "rows": 0, "expectations": 0, "failed": 1}
        summary["failures"] = [{"expectation": "ingest", "error": str(exc)}]
        _write(summary, {"ingest_error": str(exc)})
        return 1
    log.info("validating %d rows against suite %r", len(table), expectations.SUITE)
    result = run_suite(table)
    summary = summarize(result, rows=len(table))
    _write(summary, result)
    if not summary["success"]:
        log.error(
            "%s: %d of %d expectations failed:\n%s\nData Docs: %s",
            source,
            summary["failed"],
            summary["expectations"],
            format_failures(summary),
            config.REPORTS_DIR / "validation" / "data_docs" / "index.html",
        )
        return 1
    log.info("all %d expectations passed", summary["expectations"])
    return 0


def _write(summary: dict[str, Any], result: dict[str, Any]) -> None:
    metrics = {k: summary[k] for k in ("success", "rows", "expectations", "failed")}
    config.VALIDATION_METRICS.write_text(json.dumps(metrics, indent=2) + "\n")
    full = {"summary": summary, "result": result}
    config.VALIDATION_RESULT.write_text(json.dumps(full, indent=2, default=str) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
