"""The service and its OpenAPI document agree, as schemathesis judges them.

schemathesis reads the running service's /openapi.json, generates requests from it
(valid ones, which must be answered 2xx, and invalid ones, which must be refused
4xx) and checks every answer against the document: its status is documented, its
content type and body match the schema declared for it, no 5xx. The run is
deterministic, with a fixed budget of examples per operation, so that a failure is
the same on every run and the test takes seconds.
"""

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from churn.delivery import smoke
from delivery_helpers import build_package, serving

#: Examples per operation in the fuzzing phase (the coverage phase adds its own).
EXAMPLES = 100
#: A small batch limit, so that the document's maxItems is within the fuzzer's reach.
MAX_BATCH = 5


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[smoke.Service]:
    folder = build_package(tmp_path_factory.mktemp("conformance"))
    with serving(folder, "--max-batch", str(MAX_BATCH), "--no-access-log") as svc:
        yield svc
        assert not any("Traceback" in line for line in svc.log_lines), svc.log_lines


def test_schemathesis_finds_no_disagreement(
    service: smoke.Service, tmp_path: Path
) -> None:
    cmd = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{service.url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "10",
        "--no-color",
    ]
    # Run from a scratch folder: schemathesis may leave reports or caches behind.
    done = subprocess.run(
        cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "No issues found" in output, output
    cases = re.search(r"(\d+) generated, (\d+) passed", output)
    assert cases is not None, output
    generated, passed = map(int, cases.groups())
    # Every operation was exercised, with the budget this test sets.
    assert generated == passed >= 2 * EXAMPLES, output
    assert "3 selected / 3 total" in output, output
