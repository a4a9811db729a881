"""Judge what the service scored against its package's profile: healthy, or retrain?

`churn monitor --log-dir DIR` reads a window of the prediction log that
`churn serve --log-dir DIR` writes (`--since 7d`, `--last 10000`; a URL such as
`s3://bucket/churn/predictions` is read through fsspec) and the reference profile
of the package (`--package`, by default the one `churn serve` would load). It
reports

* feature drift: each feature of the traffic against the training data, with the
  drift stage's statistics and thresholds (`churn.pipeline.profile`);
* prediction drift: the served scores of the package's model against its scores
  on the test split;
* the refused requests per broken rule, the log lines skipped as incomplete and
  what the service could not write;
* with `--labels FILE` (a CSV of `customer_id` and the actual `churn`, Yes/No or
  1/0), the realised ROC AUC of the served predictions with a 95% bootstrap
  interval, against the test ROC AUC's interval, and their calibration.

It writes `monitor.md`, `monitor.json` and PNG plots into `--out` and exits 0 when
healthy, 1 when retraining is recommended (a feature or the scores drifted, or the
realised ROC AUC fell below the test interval), 2 when it cannot judge (no log, too
little traffic, too few customers scored by the package's model version, a package
without a usable profile, unusable labels). An error nothing foresaw is "cannot
judge" too, with its report: exit 1 starts a retrain, so a crash must never give it.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import traceback
from pathlib import Path
from typing import Any

from churn import config

# The prediction log's readers (`logwindow`, `predlog`: pandas, orjson) are imported
# in `fetch` and `run`, so that `churn monitor --help` answers without loading them.
from churn.delivery import judge, monitor_report, package, reference

log = logging.getLogger(__name__)

EXIT = {judge.HEALTHY: 0, judge.RETRAIN: 1, judge.CANNOT: 2}


def fetch(url: str, dest: Path) -> Path:
    """Copy the log's files at `url` (any fsspec URL, e.g. s3://...) into `dest`."""
    from churn.delivery import logwindow, predlog

    try:
        import fsspec

        fs, root = fsspec.core.url_to_fs(url)
        files = sorted(fs.glob(f"{root.rstrip('/')}/{predlog.PATTERN}"))
        for remote in files:
            fs.get(remote, str(dest / Path(remote).name))
    except (ImportError, OSError, ValueError) as exc:
        raise logwindow.LogError(f"{url}: cannot fetch the log ({exc})") from exc
    log.info("fetched %d log file(s) from %s", len(files), url)
    return dest


def load_reference(path: Path | None) -> tuple[package.Package, dict[str, Any]]:
    """The package to judge by (default: the one `churn serve` would load)."""
    try:
        pkg = package.load(
            path
            or package.build_from_workspace(
                config.DIST_DIR,
                package.DEV_VERSION,
                config.load_params(),
                enforce_floor=False,
            )
        )
    except (package.PackageError, ValueError, OSError) as exc:
        raise judge.CannotJudge(str(exc)) from exc
    if pkg.profile is None:
        raise judge.CannotJudge(
            f"{pkg.source}: the package has no {reference.FILE}; package the model "
            "again with this version of churn"
        )
    try:
        return pkg, reference.check(pkg.profile)
    except ValueError as exc:
        raise judge.CannotJudge(f"{pkg.source}: {exc}") from exc


def _cannot(reason: str) -> dict[str, Any]:
    return {
        "verdict": judge.CANNOT,
        "reasons": [reason],
        "rows": 0,
        "drifted_features": [],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Read, judge and return the result (`verdict` says how it went)."""
    from churn.delivery import logwindow

    with tempfile.TemporaryDirectory(prefix="churn-log-") as tmp:
        try:
            pkg, ref = load_reference(args.package)
            labels = judge.read_labels(args.labels) if args.labels else None
            since = logwindow.since_timestamp(args.since) if args.since else None
            folder = Path(args.log_dir)
            if "://" in args.log_dir:
                folder = fetch(args.log_dir, Path(tmp))
            window = logwindow.read(folder, since=since, last=args.last)
        except (judge.CannotJudge, logwindow.LogError, ValueError) as exc:
            return _cannot(str(exc))
    try:
        return judge.judge(
            window,
            ref,
            version=pkg.version,
            labels=labels,
            min_rows=args.min_rows,
            seed=_seed(),
        )
    except (judge.CannotJudge, ValueError) as exc:
        return _cannot(f"cannot judge the window: {exc}")


def _seed() -> int:
    """The pipeline's seed, for the bootstrap (0 where there is no params.yaml)."""
    if not config.PARAMS_FILE.is_file():
        return 0
    try:
        params = config.load_params()
    except config.PARAMS_READ_ERRORS as exc:
        # A broken params.yaml is this checkout's problem, not a fault of the monitor.
        raise judge.CannotJudge(
            f"{config.FILES.params}: cannot read it ({exc})"
        ) from exc
    seed = params.get("seed", 0) if isinstance(params, dict) else None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise judge.CannotJudge(f"{config.FILES.params}: no whole-number seed")
    return seed


def _crashed(exc: Exception, doing: str) -> dict[str, Any]:
    """Cannot judge, for an error nothing above expected: where it was raised, in
    one line; the traceback at debug level."""
    log.debug("%s failed", doing, exc_info=exc)
    frames = traceback.extract_tb(exc.__traceback__)
    where = (
        f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    )
    return _cannot(
        f"unexpected {type(exc).__name__}{where} while {doing}: {exc}; "
        "this is a fault of churn monitor, not a verdict"
    )


def _write(result: dict[str, Any], out: Path) -> None:
    """`monitor.md`, its plots and `monitor.json` in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    monitor_report.write(result, out)
    (out / "monitor.json").write_text(json.dumps(result, indent=2) + "\n")


def _report(result: dict[str, Any], out: Path) -> dict[str, Any]:
    """Write the report of `result`; if that fails, cannot judge, and its report.

    Returns the result the report holds (or would, if even that cannot be written).
    """
    try:
        _write(result, out)
        return result
    except Exception as exc:  # noqa: BLE001 (a verdict without its report is none)
        failed = _crashed(exc, f"writing the report to {out}")
    try:
        _write(failed, out)  # a cannot-judge report has no plots to render
    except Exception as exc:  # noqa: BLE001
        log.debug("writing the cannot-judge report failed too", exc_info=exc)
    return failed


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point: judge the log, write the report; exit 0, 1 (retrain) or 2."""
    parser = argparse.ArgumentParser(
        prog="churn monitor",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--log-dir",
        required=True,
        help="the folder (or URL) of `churn serve --log-dir`",
    )
    parser.add_argument(
        "--package",
        type=Path,
        help="package folder or .tar.gz (default: package this checkout's model, "
        "as churn serve does)",
    )
    parser.add_argument(
        "--labels", type=Path, help="CSV of customer_id and the actual churn"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=config.MONITOR_DIR,
        help=f"folder for the report (default: {config.FILES.monitor})",
    )
    parser.add_argument(
        "--since", help="only lines from then on: an ISO 8601 time, or 7d, 12h, 30m ago"
    )
    parser.add_argument(
        "--last", type=_positive, help="only the last N scored customers"
    )
    parser.add_argument(
        "--min-rows",
        type=_positive,
        default=judge.MIN_ROWS,
        help="fewest scored customers, and of them scored by the package's model "
        f"version, to judge (at least 1; default {judge.MIN_ROWS})",
    )
    args = parser.parse_args(argv)
    config.setup_logging()
    # Exit 1 starts a retrain: a crash (Python's exit 1) must never get that far.
    try:
        result = run(args)
    except Exception as exc:  # noqa: BLE001 (anything unforeseen is cannot judge)
        result = _crashed(exc, "judging the log")
    if args.out.exists() and not args.out.is_dir():
        log.error("monitor: cannot judge: %s is not a folder", args.out)
        return EXIT[judge.CANNOT]
    result = _report(result, args.out)
    verdict = result["verdict"]
    say = (
        log.info
        if verdict == judge.HEALTHY
        else log.warning
        if verdict == judge.RETRAIN
        else log.error
    )
    say(
        "monitor: %s (%d scored customers)%s",
        verdict,
        result["rows"],
        "".join(f"; {r}" for r in result["reasons"]),
    )
    log.info("report in %s", args.out / "monitor.md")
    return EXIT[verdict]


if __name__ == "__main__":
    raise SystemExit(main())
