"""The "Monitor" docs of level 2: serve with a log, send month 7, monitor, as shown."""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from churn.delivery import smoke
from conftest import ROOT, VENV, Reproduced, env_for

PAGE = "levels/2-cicd-automation/README.md"


def _section() -> str:
    text = (ROOT / PAGE).read_text()
    start = text.index("## Monitor\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _blocks() -> list[tuple[str, str]]:
    return re.findall(r"```(\w+)\n(.*?)```", _section(), re.S)


def test_the_section_shows_serve_send_and_monitor() -> None:
    bash = [b for lang, b in _blocks() if lang == "bash"]
    assert [b.split()[:2] for b in bash] == [
        [".venv/bin/churn", "serve"],
        [".venv/bin/churn", "traffic"],
    ]
    assert "--log-dir predictions" in bash[0] and "churn monitor" in bash[1]
    assert "```mermaid" in _section()
    for target in re.findall(r"\]\((?!https?://|#)([^)#]+)", _section()):
        assert (ROOT / PAGE).parent.joinpath(target).exists(), target


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _localise(block: str, port: int) -> str:
    block = block.replace("127.0.0.1:8000", f"127.0.0.1:{port}")
    return block.replace(".venv/bin/", f"{VENV}/bin/")


@pytest.mark.slow
def test_commands_work_as_documented(tmp_path: Path, reproduced: Reproduced) -> None:
    repo = reproduced.copy(tmp_path / "repo")
    port = _free_port()
    (serve_block, send_block), expected = (
        [b for lang, b in _blocks() if lang == "bash"],
        next(b for lang, b in _blocks() if lang == "text"),
    )
    log = tmp_path / "serve.log"
    with log.open("w") as fh:
        server = subprocess.Popen(
            [
                "bash",
                "-c",
                f"exec {_localise(serve_block.strip(), port)} --port {port}",
            ],
            cwd=repo,
            env=env_for(repo),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            try:
                if smoke.request(f"http://127.0.0.1:{port}/health", timeout=2).status:
                    break
            except OSError:
                time.sleep(0.5)
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", _localise(send_block, port)],
            cwd=repo,
            env=env_for(repo),
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    # Without -e: the monitor's exit 1 is what the block shows, with `echo`.
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = proc.stderr + proc.stdout
    assert "sent 1006 customers of month 7" in shown
    for line in expected.strip().splitlines():
        assert line in shown, f"{line!r} not in\n{shown}"
    assert (repo / "reports" / "monitor" / "monitor.md").is_file()
    assert list((repo / "predictions").glob("predictions-*.jsonl"))
