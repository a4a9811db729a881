"""A corpus of corrupted batches, each stopped before it can touch the last good model.

Every batch is generated from the bundled data by one small corruption and fed to a
clone of this repository in which the pipeline has already trained a model. Each must
be rejected with an exit code of 1 and a message that names the broken rule and
column, and must leave the model, the metrics, the data and `dvc.lock` byte for byte
as they were.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from churn import contract
from conftest import ROOT, SOURCE, Reproduced, run

pytestmark = pytest.mark.slow

RUNNER = Path(__file__).with_name("run_batches.py")
GUIDE = ROOT / "levels" / "1-pipeline-automation" / "README.md"
#: The section of the level-1 tour this module runs.
SECTION = "## 9. When bad data arrives"


def _csv(frame: pd.DataFrame, **options) -> bytes:
    return frame.to_csv(index=False, **options).encode()


def _billed(t: pd.DataFrame, months: int = 1) -> pd.Index:
    return t.index[t["tenure"].astype(int) >= months]


def _set(t: pd.DataFrame, rows, column: str, values) -> bytes:
    t.loc[rows, column] = values
    return _csv(t)


def _third_of_the_bill(t: pd.DataFrame) -> bytes:
    rows = _billed(t, 24)[:4]
    bill = t.loc[rows, "monthly_charges"].astype(float) * t.loc[rows, "tenure"].astype(
        int
    )
    return _set(t, rows, "total_charges", (bill / 3).round(2).astype(str))


def _reshuffled(t: pd.DataFrame) -> bytes:
    names = contract.names()
    names[1], names[2] = names[2], names[1]
    return _csv(t[names])


def _lines(t: pd.DataFrame, number: int, edit: Callable[[str], str]) -> bytes:
    """The batch as CSV text with line `number` (1 is the header) edited."""
    lines = _csv(t).decode().split("\n")
    lines[number - 1] = edit(lines[number - 1])
    return "\n".join(lines).encode()


def _after_field(line: str, index: int, text: str) -> str:
    fields = line.split(",")
    fields[index] += text
    return ",".join(fields)


def _shared_id(t: pd.DataFrame) -> bytes:
    # Different customers under one key: no row is an exact copy of another.
    return _set(t, [11, 12], "customer_id", t.loc[10, "customer_id"])


@dataclass(frozen=True)
class Case:
    """One corruption of the real batch and the rule that must catch it."""

    make: Callable[[pd.DataFrame], bytes] | None
    expectation: str
    column: str
    rule: str = ""


CASES: dict[str, Case] = {
    # Problems with the file itself: ingest cannot read it into the contract's table.
    "empty-file": Case(lambda t: b"", "ingest: not empty", "(file)"),
    "header-only": Case(lambda t: _csv(t.head(0)), "ingest: has rows", "(file)"),
    "semicolon-delimited": Case(
        lambda t: _csv(t, sep=";"), "ingest: comma-separated", "(file)"
    ),
    "missing-column": Case(
        lambda t: _csv(t.drop(columns="contract")),
        "ingest: exact column set",
        "contract",
    ),
    "extra-column": Case(
        lambda t: _csv(t.assign(region="north")),
        "ingest: exact column set",
        "region",
    ),
    "columns-reordered": Case(_reshuffled, "ingest: column order", "(file)"),
    "text-in-number": Case(
        # The IBM original's " " for a missing total, written as "n/a" by some tool.
        lambda t: _csv(t.replace({"total_charges": {"": "n/a"}})),
        "ingest: numeric",
        "total_charges",
    ),
    "fraction-in-integer": Case(
        lambda t: _set(t, [3], "tenure", "12.5"), "ingest: whole numbers", "tenure"
    ),
    "latin-1": Case(
        lambda t: (
            t.replace("Electronic check", "Électronic check")
            .to_csv(index=False)
            .encode("latin-1")
        ),
        "ingest: UTF-8 encoding",
        "payment_method",
    ),
    "utf-16": Case(
        lambda t: t.to_csv(index=False).encode("utf-16"),
        "ingest: UTF-8 encoding",
        "(file)",
    ),
    # Rows that do not fit the header, found before pandas guesses around them.
    "row-with-a-field-too-many": Case(
        lambda t: _lines(t, 40, lambda line: line + ",extra"),
        "ingest: same number of fields as the header",
        "(file)",
    ),
    "row-with-fields-missing": Case(
        lambda t: _lines(t, 40, lambda line: line.rsplit(",", 2)[0]),
        "ingest: same number of fields as the header",
        "monthly_charges",
    ),
    "unterminated-quote": Case(
        lambda t: _lines(t, 40, lambda line: line.replace(",", ',"', 1)),
        "ingest: balanced quotes",
        "churn",
    ),
    "nul-bytes": Case(
        lambda t: _lines(t, 40, lambda line: _after_field(line, 2, "\x00")),
        "ingest: no NUL bytes",
        "female",
    ),
    "duplicate-header-names": Case(
        lambda t: _csv(t).replace(b",senior_citizen,", b",female,", 1),
        "ingest: unique column names",
        "female",
    ),
    "duplicated-rows": Case(
        lambda t: _csv(pd.concat([t, t.head(3)])),
        "ingest: no duplicated rows",
        "(all columns)",
    ),
    "missing-file": Case(None, "ingest: file exists", "(file)"),
    # Readable files whose content breaks the contract: the GX suite stops them.
    "tenure-in-days": Case(
        lambda t: _set(t, _billed(t, 24)[:5], "tenure", "900"),
        "expect_column_values_to_be_between",
        "tenure",
        "0 <= x <= 72",
    ),
    "negative-charges": Case(
        lambda t: _set(t, [0, 1, 2], "monthly_charges", "-29.85"),
        "expect_column_values_to_be_between",
        "monthly_charges",
        "10 <= x <= 150",
    ),
    "unknown-contract": Case(
        lambda t: _set(t, [7], "contract", "Three year"),
        "expect_column_values_to_be_in_set",
        "contract",
        "in {Month-to-month, One year, Two year}",
    ),
    "flag-out-of-set": Case(
        lambda t: _set(t, [8, 9], "senior_citizen", "2"),
        "expect_column_values_to_be_in_set",
        "senior_citizen",
        "in {0, 1}",
    ),
    "churn-maybe": Case(
        lambda t: _set(t, [4], "churn", "Maybe"),
        "expect_column_values_to_be_in_set",
        "churn",
        "in {No, Yes}",
    ),
    "null-customer-id": Case(
        lambda t: _set(t, [5, 6], "customer_id", ""),
        "expect_column_values_to_not_be_null",
        "customer_id",
    ),
    "duplicate-customer-id": Case(
        _shared_id, "expect_column_values_to_be_unique", "customer_id"
    ),
    "blank-total-after-billing": Case(
        lambda t: _set(t, _billed(t)[:3], "total_charges", ""),
        "expect_column_values_to_not_be_null",
        "total_charges",
        "where tenure > 0",
    ),
    "total-before-first-bill": Case(
        lambda t: _set(
            t, t.index[t["tenure"] == "0"], "total_charges", t["monthly_charges"]
        ),
        "expect_column_values_to_be_null",
        "total_charges",
        "where tenure == 0",
    ),
    "total-far-from-monthly-times-tenure": Case(
        _third_of_the_bill,
        "expect_multicolumn_ratio_to_product_to_be_between",
        "total_charges,monthly_charges,tenure",
        "0.5 <= x <= 2 where tenure > 0",
    ),
    "too-few-rows": Case(
        lambda t: _csv(t.head(500)),
        "expect_table_row_count_to_be_between",
        "(table)",
        f">= {contract.MIN_ROWS}",
    ),
    "no-churners": Case(
        lambda t: _csv(t.assign(churn="No")),
        "expect_column_values_to_be_in_set",
        "churn",
        "in {Yes} for at least 15% of rows",
    ),
    "mostly-churners": Case(
        lambda t: _set(t, t.index[: len(t) // 2], "churn", "Yes"),
        "expect_column_values_to_be_in_set",
        "churn",
        "in {No} for at least 60% of rows",
    ),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every case written as a CSV batch, generated from the bundled data."""
    folder = tmp_path_factory.mktemp("corpus")
    real = pd.read_csv(SOURCE, dtype=str, keep_default_na=False)
    paths = {}
    for name, case in CASES.items():
        paths[name] = folder / f"{name}.csv"
        if case.make is not None:
            paths[name].write_bytes(case.make(real.copy()))
    return paths


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, reproduced: Reproduced) -> Path:
    """A clone of the repository whose pipeline has run: a last good model exists."""
    return reproduced.copy(tmp_path_factory.mktemp("bad-batches") / "repo")


@pytest.fixture(scope="module")
def outcomes(trained: Path, corpus: dict[str, Path], tmp_path_factory) -> dict:
    """What the entry points did with each case (see run_batches.py)."""
    work = tmp_path_factory.mktemp("outcomes")
    manifest = work / "manifest.json"
    manifest.write_text(json.dumps({k: str(v) for k, v in corpus.items()}))
    run([sys.executable, str(RUNNER), str(manifest), str(work / "out.json")], trained)
    return json.loads((work / "out.json").read_text())


def test_corpus_is_large_real_and_distinct(corpus: dict[str, Path]) -> None:
    written = [p for p in corpus.values() if p.exists()]
    assert len(CASES) >= 15
    assert len({hashlib.sha256(p.read_bytes()).hexdigest() for p in written}) == len(
        written
    )
    assert len(written) == len(CASES) - 1  # all but the file that does not exist
    # Each corruption changes the real file, not a hand-typed stand-in for it.
    size = SOURCE.stat().st_size
    assert sum(p.stat().st_size > size / 20 for p in written) >= len(written) - 2


@pytest.mark.parametrize("name", CASES)
def test_bad_batch_is_rejected_and_changes_nothing(name: str, outcomes: dict) -> None:
    case, seen = CASES[name], outcomes[name]
    assert seen["validate_exit"] == 1, seen["validate_log"]
    assert seen["downstream"] is None  # nothing after validate ran
    # The good table after the bad batch was never validated, nor did its summary
    # replace the bad batch's.
    assert "expectations passed" not in seen["validate_log"]
    assert seen["after"] == seen["before"]
    assert "missing" not in seen["before"].values()

    summary = seen["summary"]
    assert summary is not None and summary["success"] is False
    broken = [
        f
        for f in summary["failures"]
        if f["expectation"] == case.expectation and f["column"] == case.column
    ]
    assert broken, f"{case.expectation} on {case.column} not in {summary['failures']}"
    assert any(case.rule in f["rule"] for f in broken)
    # The person reading the log sees the rule and the column, not a traceback.
    log = seen["validate_log"]
    assert "Traceback" not in log
    assert re.search(rf"^\d+\s+{re.escape(case.expectation)}\s+", log, re.M), log
    assert case.column in log
    if case.make is not None and case.expectation.startswith("ingest"):
        # A file that cannot be read says where: the file, and its line.
        assert re.search(r"\.csv, line \d+", log), log
    if case.expectation.startswith("ingest"):
        assert seen["ingest_exit"] == 1 and not seen["ingest_wrote"]
        assert "Traceback" not in seen["ingest_log"]
    else:
        assert seen["data_docs"], "Data Docs are built for a failed suite"
        assert "Data Docs:" in log


def _fingerprint(repo: Path) -> dict[str, str]:
    names = ["dvc.lock", "models/model.skops", "metrics/metrics.json"]
    names += [str(p.relative_to(repo)) for p in sorted((repo / "plots").iterdir())]
    names += ["data/raw/churn.parquet", "data/prepared/train.parquet"]
    return {n: hashlib.sha256((repo / n).read_bytes()).hexdigest() for n in names}


#: Upstream files `dvc repro` must stop in `validate`, and what it must say.
UNREADABLE = {
    # Read by `batches`, refused by ingest's typing inside validation.
    "text-in-number": ["ingest: numeric", "'total_charges' must be numeric"],
    # Refused by `batches` itself, before validation starts.
    "row-with-fields-missing": [
        "telco_churn.csv, line 40, column 'monthly_charges': 19 fields where the "
        "header has 21",
    ],
    "unterminated-quote": [
        "telco_churn.csv, line 40, column 'churn': malformed quoting",
    ],
    "duplicate-header-names": [
        "telco_churn.csv, line 1, column 'female': column 'female' is named 2 times",
    ],
}


@pytest.mark.parametrize("name", UNREADABLE)
def test_dvc_repro_stops_an_unreadable_batch(
    name: str, trained: Path, corpus: dict[str, Path]
) -> None:
    source = trained / "data" / "external" / "telco_churn.csv"
    before = _fingerprint(trained)
    # Clean, or dvc.lock alone where this CPU trained other model bytes.
    status = run(["git", "status", "--porcelain"], trained).stdout
    shutil.copyfile(corpus[name], source)
    try:
        proc = run(["dvc", "repro"], trained, check=False)
    finally:
        run(["git", "checkout", "--", str(source)], trained)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert re.findall(r"Running stage '([^']+)'", proc.stdout) == ["validate"]
    for words in UNREADABLE[name]:
        assert words in output, output
    assert "Traceback" not in output
    assert _fingerprint(trained) == before
    assert run(["git", "status", "--porcelain"], trained).stdout == status


def _guide_commands() -> str:
    """The bash blocks of the guide's bad-data section, in order."""
    section = GUIDE.read_text().split(SECTION, 1)[1]
    section = re.split(r"^## ", section, maxsplit=1, flags=re.M)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert blocks and not any("# needs GitHub" in b for b in blocks)
    return "\n".join(blocks)


def test_guide_commands_run_as_written(trained: Path) -> None:
    # The guide's commands, run in order in one shell: they must do what it says.
    before = _fingerprint(trained)
    script = "set -euo pipefail\n" + _guide_commands()
    proc = run(["bash", "-c", script], trained)
    output = proc.stdout + proc.stderr
    assert "validate exited with 1" in output
    assert "dvc repro exited with" in output
    assert re.search(r"^metrics/validation\.json .* 3 .* False$", output, re.M)
    assert "expect_column_values_to_be_in_set" in output and "'Maybe'" in output
    assert "tenure [0 <= x <= 72]" in output
    assert (trained / "reports/validation/data_docs/index.html").exists()
    quarantined = trained / "data" / "quarantine" / "bad_batch.csv"
    assert quarantined.exists()
    # Back on the good batch, the model is the one trained before the bad batch.
    assert _fingerprint(trained) == before
    assert json.loads((trained / "metrics" / "validation.json").read_text())["success"]
    ran = re.findall(r"Running stage '([^']+)'", output)
    assert ran.count("ingest") == 0 and ran.count("train") == 0
    # The excerpt the guide quotes is what validate printed, line for line.
    printed = output.splitlines()
    for line in _guide_excerpt():
        assert line in printed, line


def _guide_excerpt() -> list[str]:
    """The lines of validate's output quoted in the guide's first text block."""
    section = GUIDE.read_text().split(SECTION, 1)[1]
    excerpt = re.search(r"```text\n(.*?)```", section, re.S).group(1)
    # The report paths are absolute, so they differ from machine to machine.
    lines = [
        line
        for line in excerpt.splitlines()
        if not line.startswith(("full result: ", "Data Docs: "))
    ]
    assert any(line.startswith("#  expectation") for line in lines)
    return lines
