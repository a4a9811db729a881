"""The quality gate: may this pull request's model replace the one on the base?

`churn gate --base main` gathers the evidence (`churn.review.evidence`), applies the
rules (`churn.review.rules`: the base's `gate:` settings, never the PR's), logs the
verdict and exits with it: 0 pass, 1 a rule failed (regression, floor, validation),
2 the gate cannot judge (a missing base, missing or broken evidence).

`churn report` judges the same evidence and writes the verdict beside the report
(`report.json` next to `report.md`) with a fingerprint of what it judged: the base
commit, the `--first-model` flag and the hashes of the workspace's evidence files.
`churn gate --verdict report.json` takes that verdict instead of judging again, and
exits 2 when the fingerprint is not the current workspace's and base's, so a stale
or hand-written file cannot pass.

`--first-model` is for a repository whose base has no model yet: the floor alone
decides. `--recompute` first reruns the `evaluate` stage (`dvc repro --force
--single-item evaluate`), so committed metrics are never taken on trust.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churn import config, lineage, stats
from churn.review.rules import (
    CANNOT_JUDGE,
    Rules,
    Verdict,
    cannot_judge,
    decide,
    validation_verdict,
)

# The evidence (pandas) is imported in `main`, after the arguments are parsed,
# so that `churn gate --help` answers without loading it.
if TYPE_CHECKING:
    from churn.review import evidence as ev

__all__ = ["Rules", "Verdict", "decide", "intervals", "judge", "main", "replay"]

log = logging.getLogger(__name__)

#: Version of the verdict file's layout.
VERDICT_FORMAT = 1


def verdict_path(report: Path) -> Path:
    """Where the verdict of `report.md` is kept: `report.json` beside it."""
    return report.with_suffix(".json")


def intervals(evidence: ev.Evidence) -> dict[str, stats.Interval] | None:
    """Bootstrap intervals of every headline metric, or None without a comparison."""
    rules, shared = evidence.rules, evidence.shared
    if rules is None or shared is None or shared.empty:
        return None
    return stats.paired_bootstrap(
        shared["label"].to_numpy(),
        shared["score_base"].to_numpy(),
        shared["score_pr"].to_numpy(),
        thresholds=evidence.thresholds,
        resamples=rules.resamples,
        seed=evidence.seed,
    )


def judge(evidence: ev.Evidence, found: dict[str, stats.Interval] | None) -> Verdict:
    """The verdict on the evidence: a failed validation first, then anything that
    cannot be judged, then the rules of the base."""
    failed = validation_verdict(evidence.validation)
    if failed is not None and failed.rule != CANNOT_JUDGE:
        return failed
    if evidence.problems:
        extra = [failed.reason] if failed is not None else []
        return cannot_judge(*evidence.problems, *extra)
    if evidence.rules is None:  # gather records why as a problem; never judge without
        return cannot_judge("no gate settings")
    return decide(
        evidence.rules,
        pr=evidence.pr_metrics,
        base=evidence.base_metrics,
        interval=(found or {}).get(evidence.rules.metric),
        validation=evidence.validation,
        first_model=evidence.first_model,
    )


def record(verdict: Verdict, evidence: ev.Evidence) -> dict[str, Any]:
    """The verdict file's content: the decision and the fingerprint it belongs to."""
    rules = evidence.rules
    return {
        "format": VERDICT_FORMAT,
        "verdict": verdict.status,
        "rule": verdict.rule,
        "reason": verdict.reason,
        "exit_code": verdict.exit_code,
        "notes": list(evidence.notes),
        "rules": None if rules is None else vars(rules),
        "evidence": evidence.fingerprint,
    }


def write_verdict(path: Path, verdict: Verdict, evidence: ev.Evidence) -> None:
    """Write the verdict file (`report.json`) for `churn gate --verdict`."""
    path.write_text(json.dumps(record(verdict, evidence), indent=2) + "\n")
    log.info("wrote %s (gate: %s)", path, verdict.status)


def replay(content: Any, current: dict[str, Any]) -> tuple[Verdict, list[str]]:
    """The verdict and notes a verdict file holds, once it is shown to belong to
    the `current` fingerprint; `ValueError` says why it does not."""
    if not isinstance(content, dict) or content.get("format") != VERDICT_FORMAT:
        raise ValueError(f"not a verdict file of format {VERDICT_FORMAT}")
    recorded = content.get("evidence")
    if not isinstance(recorded, dict):
        raise ValueError("it holds no fingerprint of its evidence")
    files = recorded.get("files") if isinstance(recorded.get("files"), dict) else {}
    differ = [k for k in current if k != "files" and recorded.get(k) != current[k]]
    differ += [n for n, digest in current["files"].items() if files.get(n) != digest]
    if differ:
        raise ValueError(
            "it was written for other evidence than this checkout's against "
            f"{current['base']!r} (differs: {', '.join(differ)}); write the "
            "report again"
        )
    rule, reason = content.get("rule"), content.get("reason")
    if not isinstance(rule, str) or not isinstance(reason, str):
        raise ValueError("it names no rule and reason")
    passed = content.get("verdict") == "pass"
    verdict = Verdict(passed, rule, reason)
    if verdict.status != content.get("verdict") or (
        verdict.exit_code != content.get("exit_code")
    ):
        raise ValueError(
            f"its verdict {content.get('verdict')!r}, rule {rule!r} and exit code "
            f"{content.get('exit_code')!r} do not agree"
        )
    notes = content.get("notes") or []
    return verdict, [str(n) for n in notes] if isinstance(notes, list) else []


def report_verdict(verdict: Verdict, notes: list[str] | tuple[str, ...]) -> int:
    """Log the verdict the way CI shows it; its exit code."""
    for note in notes:
        log.warning("%s", note)
    if verdict.passed:
        log.info("gate passed (rule: %s): %s", verdict.rule, verdict.reason)
    elif verdict.rule == CANNOT_JUDGE:
        log.error("gate CANNOT JUDGE (exit 2): %s", verdict.reason)
    else:
        log.error("gate FAILED (rule: %s): %s", verdict.rule, verdict.reason)
    return verdict.exit_code


def add_review_options(parser: argparse.ArgumentParser) -> None:
    """The options `churn report` and `churn gate` share."""
    parser.add_argument("--base", default="main", help="git revision to compare with")
    parser.add_argument(
        "--first-model",
        action="store_true",
        help="the base has no model yet: judge on validation and the floor alone",
    )
    parser.add_argument(
        "--recompute",
        action="store_true",
        help="rerun the evaluate stage first (dvc repro --force evaluate)",
    )


def main(argv: list[str] | None = None, *, root: Path = config.ROOT) -> int:
    """Entry point: judge the workspace against `--base` (or take `--verdict`);
    exit 0 pass, 1 fail, 2 cannot judge."""
    parser = argparse.ArgumentParser(
        prog="churn gate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_review_options(parser)
    parser.add_argument(
        "--verdict",
        type=Path,
        help="the verdict `churn report` wrote (report.json): use it, if it is "
        "this checkout's",
    )
    args = parser.parse_args(argv)
    config.setup_logging()
    try:
        return _judged(args, root)
    except (lineage.LineageError, ValueError) as exc:
        where = f"{args.verdict}: " if args.verdict is not None else ""
        log.error("gate CANNOT JUDGE (exit 2): %s%s", where, exc)
        return 2
    except Exception as exc:  # noqa: BLE001
        # Exit 1 means a rule failed; a crash is no verdict, whatever it was.
        log.debug("the gate failed", exc_info=exc)
        log.error(
            "gate CANNOT JUDGE (exit 2): unexpected %s: %s", type(exc).__name__, exc
        )
        return 2


def _judged(args: argparse.Namespace, root: Path) -> int:
    """The gate's exit code for parsed `args`: judge afresh, or replay `--verdict`."""
    from churn.review import evidence as ev

    if args.recompute:
        ev.recompute(root)
    if args.verdict is None:
        evidence = ev.gather(args.base, root=root, first_model=args.first_model)
        return report_verdict(judge(evidence, intervals(evidence)), evidence.notes)
    current = ev.fingerprint(args.base, root=root, first_model=args.first_model)
    if current["base_commit"] is None:
        raise ValueError(f"base revision {args.base!r} not found")
    content = lineage.read_json(args.verdict)
    if content is None:
        raise ValueError("there is no such file (run `churn report` first)")
    verdict, notes = replay(content, current)
    log.info("verdict taken from %s (its evidence is this checkout's)", args.verdict)
    return report_verdict(verdict, notes)


if __name__ == "__main__":
    raise SystemExit(main())
