"""Stage `validate`: check a batch against the contract's Great Expectations suite.

The batch is read exactly as `ingest` reads a CSV and validated before `ingest`
writes anything, so a bad batch stops the pipeline with nothing changed: not the
data, not the model, not the metrics, not `dvc.lock`. With `--out`, the typed table
of the last source is written as Parquet once every source passed: what `ingest`
reads, so that the table is parsed from CSV once per run.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churn import config
from churn.data import expectations, ingest
from churn.data.failures import format_failures

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: How many example values each failure quotes.
EXAMPLES = expectations.EXAMPLES


def summarize(result: dict[str, Any], rows: int) -> dict[str, Any]:
    """Condense a GX validation result (as JSON) into what a person needs to act.

    Returns the counts and, for each failed expectation, its type, column(s), the
    rule in words, unexpected count and share of the batch's rows, up to five
    example values (or the observed value of a table-level check) and the reason
    the rule exists.
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
        count = res.get("unexpected_count")
        failures.append(
            {
                "expectation": cfg["type"],
                "column": _columns(cfg["kwargs"]),
                "rule": rule_text(cfg["kwargs"]),
                "unexpected_count": count,
                "unexpected_share": (
                    round(count / rows, 6) if count is not None and rows else None
                ),
                "examples": [_plain(v) for v in (examples or [])[:EXAMPLES]],
                "why": cfg.get("notes") or "",
            }
        )
    # GX does not promise an order; sorting keeps reports stable from run to run.
    failures.sort(key=lambda f: (f["column"], f["expectation"], f["rule"]))
    return {
        "success": not failures,
        "rows": rows,
        "expectations": len(result["results"]),
        "failed": len(failures),
        "failures": failures,
    }


def _rule_key(spec: dict[str, Any]) -> str:
    """An expectation's type and parameters, as GX reports them back or as
    `expectations.build()` writes them: GX drops `None` values, turns numbers into
    floats and adds the batch's id, so those differences are taken out."""

    def plain(value: Any) -> Any:
        if isinstance(value, bool) or value is None or isinstance(value, str):
            return value
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, dict):
            return {
                k: plain(v)
                for k, v in value.items()
                if v is not None and k != "batch_id"
            }
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return str(value)

    return json.dumps([spec["type"], plain(spec["kwargs"])], sort_keys=True)


class SuiteError(ValueError):
    """The suite in `gx/` is not the one the contract builds: it cannot judge."""


def suite_problem(configs: list[dict[str, Any]]) -> str | None:
    """Why the expectation configurations of a suite are not the contract's, or None.

    A suite file edited by hand, emptied or left over from an older contract would
    otherwise pass batches the contract refuses: with no expectation, every batch
    passes.
    """
    built = expectations.build()
    ran = Counter(map(_rule_key, configs))
    wanted = Counter(map(_rule_key, built))
    if ran == wanted:
        return None
    named = {
        _rule_key(spec): " ".join(
            filter(
                None,
                [spec["type"], _columns(spec["kwargs"]), rule_text(spec["kwargs"])],
            )
        )
        for spec in [*configs, *built]
    }
    parts = [
        f"the suite {expectations.SUITE!r} holds {ran.total()} expectations where "
        f"src/churn/contract.py has {wanted.total()}"
    ]
    for label, keys in (
        ("missing", wanted - ran),
        ("not in the contract", ran - wanted),
    ):
        if keys:
            shown = "; ".join(named[k] for k in list(keys)[:EXAMPLES])
            parts.append(f"{keys.total()} {label}, e.g. {shown}")
    return ", ".join(parts) + "; regenerate gx/ with `churn expectations`"


def _check_suite(suite: Any) -> None:
    """`SuiteError` unless the GX suite `suite` holds exactly the contract's rules."""
    problem = suite_problem(
        [e.configuration.to_json_dict() for e in suite.expectations]
    )
    if problem is not None:
        raise SuiteError(problem)


def suite_failure(problem: str, rows: int) -> dict[str, Any]:
    """A summary, shaped like `summarize`'s, for a batch the suite cannot judge.

    `success` is null, neither passed nor failed: the gate cannot judge it.
    """
    failure = {
        "expectation": "suite: the contract's expectations",
        "column": "(suite)",
        "rule": "the suite that runs is the one built from the contract",
        "unexpected_count": None,
        "unexpected_share": None,
        "examples": [],
        "why": problem,
    }
    return {
        "success": None,
        "rows": rows,
        "expectations": 0,
        "failed": 0,
        "failures": [failure],
    }


def ingest_failure(exc: ingest.IngestError) -> dict[str, Any]:
    """A summary, shaped like `summarize`'s, for a batch `ingest` cannot read."""
    failure = {
        "expectation": f"ingest: {exc.rule}",
        "column": exc.column or "(file)",
        "rule": exc.rule,
        "unexpected_count": exc.count,
        "unexpected_share": None,
        "examples": [_plain(v) for v in exc.examples[:EXAMPLES]],
        "why": str(exc),
    }
    return {
        "success": False,
        "rows": 0,
        "expectations": 0,
        "failed": 1,
        "failures": [failure],
    }


def _columns(kwargs: dict[str, Any]) -> str:
    """The column an expectation checks, or its columns, or `(table)`."""
    if "column" in kwargs:
        return kwargs["column"]
    if "column_list" in kwargs:
        cols = kwargs["column_list"]
        # The full column list of the schema check says nothing a person can use.
        return "(table)" if len(cols) > 3 else ",".join(cols)
    return "(table)"


def rule_text(kwargs: dict[str, Any]) -> str:
    """The parameters of an expectation as a short phrase, e.g. `0 <= x <= 72`."""
    parts = []
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        parts.append(f"{low:g} <= x <= {high:g}")
    elif low is not None:
        parts.append(f">= {low:g}")
    elif high is not None:
        parts.append(f"<= {high:g}")
    if "value_set" in kwargs:
        parts.append("in {" + ", ".join(map(str, kwargs["value_set"])) + "}")
    if "type_list" in kwargs:
        parts.append("type " + " or ".join(kwargs["type_list"]))
    if kwargs.get("mostly") not in (None, 1, 1.0):
        parts.append(f"for at least {kwargs['mostly']:.0%} of rows")
    condition = kwargs.get("row_condition")
    if isinstance(condition, dict) and "operator" in condition:
        name = condition["column"]["name"]
        parts.append(f"where {name} {condition['operator']} {condition['parameter']}")
    return " ".join(parts)


def _plain(value: Any) -> Any:
    """A JSON-friendly version of an example value."""
    if isinstance(value, float | int | str | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


def _context(gx_root: Path) -> Any:
    """The file-mode GX context under `gx_root`, with this project's rules loaded."""
    import great_expectations as gx

    from churn.data import gx_rules  # noqa: F401  (registers the custom expectation)

    return gx.get_context(mode="file", project_root_dir=str(gx_root))


def run_suite(
    table: pd.DataFrame, gx_root: Path | None = None, *, docs_if_passed: bool = True
) -> dict[str, Any]:
    """Run the committed checkpoint over `table`; return the result as JSON.

    `SuiteError`, before anything runs, when the checkpoint's suite is not the
    contract's. Also stores the result and builds the Data Docs site configured in
    `gx/great_expectations.yml`: always when an expectation failed, and when all
    passed unless `docs_if_passed` is False. `gx_root` defaults to the project root.
    """
    ctx = _context(gx_root or config.ROOT)
    checkpoint = ctx.checkpoints.get(expectations.CHECKPOINT)
    # Before anything runs: a wrong suite would store a result and Data Docs.
    for definition in checkpoint.validation_definitions:
        _check_suite(definition.suite)
    outcome = checkpoint.run(batch_parameters={"dataframe": table})
    if docs_if_passed or not outcome.success:
        ctx.build_data_docs()
    (run_result,) = outcome.run_results.values()
    return run_result.to_json_dict()


def check_table(table: pd.DataFrame, gx_root: Path | None = None) -> dict[str, Any]:
    """Validate an in-memory table against the suite; return the summary only.

    Stores no result and builds no Data Docs: this is the call for code that
    already holds a DataFrame (a benchmark, a notebook, a batch before it is saved).
    """
    ctx = _context(gx_root or config.ROOT)
    definition = ctx.validation_definitions.get(expectations.SUITE)
    try:
        _check_suite(definition.suite)
    except SuiteError as exc:
        return suite_failure(str(exc), rows=len(table))
    batch = definition.batch_definition.get_batch(batch_parameters={"dataframe": table})
    result = batch.validate(definition.suite, result_format=expectations.RESULT_FORMAT)
    return summarize(result.to_json_dict(), rows=len(table))


def main(argv: list[str] | None = None) -> int:
    """Entry point: validate each source in turn; exit 1 at the first that fails."""
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn validate",
        description=__doc__,
    )
    parser.add_argument(
        "--source",
        type=Path,
        action="append",
        help="CSV batch; repeat to validate several in one process, in order "
        "(default: ingest.source in params.yaml)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="Parquet file for the typed table of the last source, written only "
        f"once every source passed (the pipeline's: {config.FILES.validated})",
    )
    args = parser.parse_args(argv)
    config.setup_logging()
    sources = args.source or [config.resolve(config.load_params()["ingest"]["source"])]
    if args.out is not None:
        # What is there was checked by an earlier run, not this one.
        args.out.unlink(missing_ok=True)
    # One process for all of them: importing Great Expectations costs seconds.
    for number, source in enumerate(sources, start=1):
        last = number == len(sources)
        if validate_source(source, args.out if last else None, last=last) != 0:
            return 1
    return 0


def validate_source(source: Path, out: Path | None = None, *, last: bool = True) -> int:
    """Validate one CSV batch, write its summary and reports; 1 if it fails.

    When it passes and `out` is given, its typed table is written there as Parquet.
    A source that passes and is not the `last` builds no Data Docs: the next one
    starts from an empty report folder.
    """
    # Start each run from an empty report folder so Data Docs show this batch only.
    shutil.rmtree(config.VALIDATION_RESULT.parent, ignore_errors=True)
    config.VALIDATION_RESULT.parent.mkdir(parents=True)
    config.VALIDATION_METRICS.parent.mkdir(parents=True, exist_ok=True)
    try:
        table = ingest.read_batch(source)
    except ingest.IngestError as exc:
        summary = ingest_failure(exc)
        _write(summary, {"ingest_error": str(exc)})
        log.error(
            "%s: batch rejected, it cannot be read into the contract's table\n"
            "%s\nfull result: %s",
            source,
            format_failures(summary),
            config.VALIDATION_RESULT,
        )
        return 1
    log.info("validating %d rows against suite %r", len(table), expectations.SUITE)
    try:
        result = run_suite(table, docs_if_passed=last)
    except SuiteError as exc:
        _write(suite_failure(str(exc), rows=len(table)), {"suite_error": str(exc)})
        log.error("%s: batch not judged: %s", source, exc)
        return 1
    summary = summarize(result, rows=len(table))
    _write(summary, result)
    if not summary["success"]:
        log.error(
            "%s: batch rejected, %d of %d expectations failed on %d rows\n"
            "%s\nfull result: %s\nData Docs: %s",
            source,
            summary["failed"],
            summary["expectations"],
            summary["rows"],
            format_failures(summary),
            config.VALIDATION_RESULT,
            config.DATA_DOCS,
        )
        return 1
    log.info("%s: all %d expectations passed", source, summary["expectations"])
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(out, index=False)
        log.info("wrote the validated table to %s", out)
    return 0


def _write(summary: dict[str, Any], result: dict[str, Any]) -> None:
    metrics = {k: summary[k] for k in ("success", "rows", "expectations", "failed")}
    config.VALIDATION_METRICS.write_text(json.dumps(metrics, indent=2) + "\n")
    full = {"summary": summary, "result": result}
    config.VALIDATION_RESULT.write_text(json.dumps(full, indent=2, default=str) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
