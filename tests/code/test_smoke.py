"""The smoke test reports a service that cannot start, or that answers wrongly."""

import os
from pathlib import Path

import pytest

from churn.delivery import smoke
from conftest import ROOT
from delivery_helpers import build_package


def test_a_service_that_cannot_start_is_reported(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with pytest.raises(smoke.SmokeError, match="did not start") as info:
        with smoke.running(tmp_path / "missing.tar.gz", env=env, timeout=60):
            pass
    assert "missing.tar.gz" in str(info.value)


def test_smoke_command_fails_on_a_tampered_package(tmp_path: Path) -> None:
    built = build_package(tmp_path)
    with (built / "model.skops").open("ab") as fh:
        fh.write(b"\0")
    assert smoke.main(["--package", str(built)]) == 1
