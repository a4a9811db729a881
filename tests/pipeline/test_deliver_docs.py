"""The "Deliver" docs of level 2: every command runs in a fresh clone as shown."""

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest

from churn.delivery import smoke
from conftest import (
    PROBABILITY,
    ROOT,
    VENV,
    Reproduced,
    approx_values,
    env_for,
)

LEVEL = ROOT / "levels" / "2-cicd-automation"
STAMP = VENV / ".installed"


def _doc() -> Path:
    """The level-2 README, which holds the section."""
    return LEVEL / "README.md"


def _section(heading: str = "## Deliver\n") -> str:
    text = _doc().read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _blocks(heading: str = "## Deliver\n") -> list[tuple[str, str]]:
    return re.findall(r"```(\w+)\n(.*?)```", _section(heading), re.S)


def test_links_resolve() -> None:
    for target in re.findall(r"\]\((?!https?://)([^)#]+)", _section()):
        assert (_doc().parent / target).exists(), target


def test_every_bash_block_is_run_here_or_marked() -> None:
    runnable = [b for lang, b in _blocks() if lang == "bash"]
    assert not [b for b in runnable if "# needs GitHub" in b]
    assert any(b.strip() == "make serve" for b in runnable)
    # Downloading and verifying a release needs GitHub: the walk-through shows it.
    release = [
        b for lang, b in _blocks("## 5. Merge, and get a release\n") if lang == "bash"
    ]
    marked = [b for b in release if "# needs GitHub" in b]
    assert len(marked) == 1 and "gh release download" in marked[0]
    assert "gh attestation verify" in marked[0]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "make serve exited"
        try:
            if smoke.request(f"{url}/health", timeout=2).status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"the service at {url} did not come up in {timeout}s")


def _localise(block: str, port: int) -> str:
    """The block as run here: this port, this test run's virtualenv."""
    block = block.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    block = block.replace(".venv/bin/", f"{VENV}/bin/")
    return re.sub(r"^make (\S+)", rf"make \1 VENV={VENV} -o {STAMP}", block, flags=re.M)


@pytest.mark.slow
def test_commands_work_as_documented(tmp_path: Path, reproduced: Reproduced) -> None:
    repo = reproduced.copy(tmp_path / "repo")
    port = _free_port()
    blocks = _blocks()
    server = None
    log = tmp_path / "serve.log"
    try:
        for i, (lang, block) in enumerate(blocks):
            if lang != "bash" or "# needs GitHub" in block:
                continue
            if block.strip() == "make serve":
                cmd = [
                    "make",
                    "serve",
                    f"PORT={port}",
                    f"VENV={VENV}",
                    "-o",
                    str(STAMP),
                ]
                with log.open("w") as fh:
                    server = subprocess.Popen(
                        cmd,
                        cwd=repo,
                        env=env_for(repo),
                        stdout=fh,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                _wait_healthy(f"http://127.0.0.1:{port}", server)
                continue
            proc = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", _localise(block, port)],
                cwd=repo,
                env=env_for(repo),
                capture_output=True,
                text=True,
            )
            assert proc.returncode == 0, f"{block}\n{proc.stdout}\n{proc.stderr}"
            following = blocks[i + 1] if i + 1 < len(blocks) else ("", "")
            if following[0] == "json":
                # Probabilities to 1e-9: their last bits follow the CPU.
                expected = approx_values(json.loads(following[1]), PROBABILITY)
                assert expected == json.loads(proc.stdout), block
            if "churn smoke" in block:
                assert (
                    "smoke test passed: churn-model 1.3.0 answered 4 requests correctly"
                    in proc.stderr
                )
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    assert f"Uvicorn running on http://127.0.0.1:{port}" in log.read_text()
    scored = pd.read_csv(repo / "scored.csv")
    assert len(scored) == 7043 and scored["churn_probability"].between(0, 1).all()
    assert (repo / "dist" / "churn-model-1.3.0.tar.gz").is_file()
