"""The committed dvc.lock matches the code, data and params in this checkout."""

import re

from conftest import ROOT, run


def test_no_stage_is_out_of_date_against_the_lock() -> None:
    # --allow-missing ignores outputs that are simply not pulled; anything else
    # that would run means a dep or param changed without a rerun and a new lock.
    proc = run(["dvc", "repro", "--dry", "--allow-missing"], ROOT)
    stale = re.findall(r"Running stage '([^']+)'", proc.stdout)
    assert not stale, f"dvc.lock is stale for {stale}; run `make repro` and commit it"
