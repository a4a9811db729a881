"""The committed dvc.lock matches the code, data and params in this checkout."""

import re

import yaml

from churn import config
from conftest import ROOT, run


def test_no_stage_is_out_of_date_against_the_lock() -> None:
    # --allow-missing ignores outputs that are simply not pulled; anything else
    # that would run means a dep or param changed without a rerun and a new lock.
    proc = run(["dvc", "repro", "--dry", "--allow-missing"], ROOT)
    stale = re.findall(r"Running stage '([^']+)'", proc.stdout)
    assert not stale, f"dvc.lock is stale for {stale}; run `make repro` and commit it"


def test_lock_holds_exactly_the_stages_of_dvc_yaml() -> None:
    # `dvc repro` never drops the entry of a stage removed from dvc.yaml; a stale one
    # would still be read by anything that looks up an output's hash in the lock.
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    assert set(lock) == set(stages)


def test_ingest_reads_what_validate_wrote_and_no_csv() -> None:
    # The table is parsed from CSV once, by validate; ingest's recorded inputs are
    # validate's typed table and months file, with the hashes validate wrote.
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    written = {o["path"]: o["md5"] for o in lock["validate"]["outs"]}
    read = {d["path"]: d["md5"] for d in lock["ingest"]["deps"]}
    assert not [p for p in read if p.endswith(".csv")], read
    for path in (config.FILES.validated, config.FILES.months):
        assert read[path] == written[path], path
