"""report.yml: posts train's report on the pull request, treating it as untrusted.

The artifact was written by the pull request's own code, so report.yml checks it
before `cml` reads it: CML uploads every local file a Markdown link or image points
at, so a report.md linking `/proc/self/environ` would publish the job's environment.
The checker is the Python script in the workflow itself, run here on crafted zip
files; then report.yml runs under act on artifacts laid out as train's upload
leaves them, with the recording `gh` standing in for GitHub's API.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import actrun
import pytest
import yaml

from conftest import ROOT, VENV

WORKFLOW = ROOT / ".github" / "workflows" / "report.yml"
EXAMPLE = ROOT / "levels" / "2-cicd-automation"
PNG = (EXAMPLE / "report-plots" / "roc-curve.png").read_bytes()


def _workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text())
    data["on"] = data.pop(True)
    return data


def _steps() -> list[dict]:
    return _workflow()["jobs"]["post"]["steps"]


def checker() -> str:
    """The Python script of the step that checks and unpacks the artifact."""
    (step,) = [s for s in _steps() if "python3 -" in s.get("run", "")]
    match = re.search(r"<<'PY'\n(.*?)\n\s*PY\n", step["run"], re.S)
    assert match, "the checker is a quoted heredoc: nothing in it is expanded"
    return match[1]


def _zip(path: Path, files: dict[str, bytes], links: dict[str, str] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        for name, target in dict(links).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # a symbolic link
            archive.writestr(info, target)
    return path


def _check(tmp: Path, files: dict[str, bytes], **kw) -> subprocess.CompletedProcess:
    archive = _zip(tmp / "report.zip", files, **kw)
    return subprocess.run(
        [sys.executable, "-c", checker(), str(archive), str(tmp / "out")],
        capture_output=True,
        text=True,
        env={"MAX_ZIP_BYTES": "20000000"},
    )


def _good() -> dict[str, bytes]:
    return {
        "report.md": b"## Churn model report\n\n"
        b"![ROC curve](report-plots/roc-curve.png)\n"
        b"See [the docs](https://dvc.org/doc#metrics).\n",
        "report.json": b'{"verdict": "pass"}',
        "report-plots/roc-curve.png": PNG,
    }


def test_a_real_report_is_unpacked(tmp_path: Path) -> None:
    files = _good()
    files["report.md"] = (EXAMPLE / "example-report.md").read_bytes()
    for png in (EXAMPLE / "report-plots").glob("*.png"):
        files[f"report-plots/{png.name}"] = png.read_bytes()
    proc = _check(tmp_path, files)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"report accepted: {len(files)} files" in proc.stdout
    for name, data in files.items():
        assert (tmp_path / "out" / name).read_bytes() == data


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"../report.md": b"x"}, "unexpected file '../report.md'"),
        ({"/etc/cron.d/x": b"x"}, "unexpected file '/etc/cron.d/x'"),
        ({"report-plots/../../x.png": PNG}, "unexpected file"),
        ({"report-plots/sub/x.png": PNG}, "unexpected file"),
        ({"run.sh": b"#!/bin/sh"}, "unexpected file 'run.sh'"),
        ({"report-plots/fake.png": b"GIF89a"}, "'report-plots/fake.png' is not a PNG"),
        ({"report.md": b"x" * 60_001}, "'report.md' is too large"),
        ({"report.json": b"{not json"}, "unreadable report"),
        ({"report.md": b"\xff\xfe"}, "unreadable report"),
    ],
    ids=[
        "parent",
        "absolute",
        "dotdot-plot",
        "nested-plot",
        "extra",
        "not-png",
        "large",
        "bad-json",
        "not-utf8",
    ],
)
def test_files_other_than_the_report_are_refused(
    tmp_path: Path, change: dict[str, bytes], why: str
) -> None:
    proc = _check(tmp_path, {**_good(), **change})
    assert proc.returncode == 1
    assert "::error title=Report refused::" in proc.stdout
    assert why in proc.stdout
    assert not (tmp_path / "out").exists(), "nothing is unpacked from a refused zip"


def test_a_symbolic_link_is_refused(tmp_path: Path) -> None:
    proc = _check(
        tmp_path, _good(), links={"report-plots/x.png": "/home/runner/.ssh/id_rsa"}
    )
    assert proc.returncode == 1
    assert "'report-plots/x.png' is not a regular file" in proc.stdout


def test_a_report_without_report_md_is_refused(tmp_path: Path) -> None:
    files = _good()
    del files["report.md"]
    proc = _check(tmp_path, files)
    assert proc.returncode == 1 and "there is no report.md" in proc.stdout


@pytest.mark.parametrize(
    "link",
    [
        "![x](/proc/self/environ)",
        "![x](../../../../home/runner/.git-credentials)",
        "[x](report.json)",
        "![x](report-plots/missing.png)",
        # CML resolves even a URL against the report's folder: `..` climbs out.
        "![x](https://../../../../../proc/self/environ)",
        # Entities and escapes that Markdown decodes into a path.
        "![x](&#x2F;etc&#x2F;passwd)",
        "![x](\\/etc\\/passwd)",
        "![x](%2Fetc%2Fpasswd)",
        "![x](<  /etc/passwd>)",
        "![x]()",
        # A reference definition, also inside a quote.
        "![x][p]\n\n[p]: /etc/passwd",
        "> [p]: /etc/passwd",
    ],
)
def test_links_cml_would_upload_are_refused(tmp_path: Path, link: str) -> None:
    files = _good()
    files["report.md"] += f"\n{link}\n".encode()
    proc = _check(tmp_path, files)
    assert proc.returncode == 1, proc.stdout
    assert "which is neither one of its plots nor a web page" in proc.stdout


def test_too_many_files_are_refused(tmp_path: Path) -> None:
    files = _good()
    files.update({f"report-plots/p{i}.png": PNG for i in range(40)})
    proc = _check(tmp_path, files)
    assert proc.returncode == 1 and "more than 40" in proc.stdout


def test_the_workflow_never_runs_the_pull_requests_code() -> None:
    data = _workflow()
    assert set(data["on"]) == {"workflow_run"}
    assert data["on"]["workflow_run"] == {
        "workflows": ["train"],
        "types": ["completed"],
    }
    assert data["permissions"] == {}
    (job,) = data["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    uses = [s["uses"].split("@")[0] for s in job["steps"] if "uses" in s]
    assert uses == ["iterative/setup-cml"], "no checkout, nothing of the PR's"
    for step in job["steps"]:
        # Every value from the event or the artifact reaches a shell through env.
        assert "${{" not in step.get("run", ""), step.get("name")
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "make " not in runs and "pip " not in runs


def test_only_the_workflow_run_trigger_is_exempt_from_zizmor() -> None:
    ignores = [
        (path.name, line.strip())
        for path in sorted(WORKFLOW.parent.glob("*.yml"))
        for line in path.read_text().splitlines()
        if "zizmor: ignore" in line
    ]
    assert ignores == [
        ("report.yml", "workflow_run: # zizmor: ignore[dangerous-triggers]")
    ]


# --- report.yml under act, on artifacts laid out as train leaves them ----------


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report-clone")
    return actrun.pull_request_clone(tmp / "repo", ["train.logistic_regression.C=0.3"])


def _post(
    clone: Path,
    work: Path,
    files: dict[str, bytes],
    *,
    artifact: str = "report-1",
    head: str | None = None,
    fork: bool = True,
) -> actrun.ActRun:
    folder = work / "artifacts" / artifact
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    actrun.open_pull_request(work / "gh", clone)
    if head is not None:  # the pull request's head, as GitHub's API reports it
        pulls = json.loads((work / "gh" / "pulls.json").read_text())
        pulls["1"]["head"]["sha"] = head
        (work / "gh" / "pulls.json").write_text(json.dumps(pulls))
    return actrun.run_act(
        clone,
        venv=VENV,
        work=work,
        workflow="report.yml",
        event_name="workflow_run",
        payload=actrun.workflow_run_event(clone, fork=fork, conclusion="success"),
    )


def _cml_calls(run: actrun.ActRun) -> list[list[str]]:
    calls = run.record / "calls.jsonl"
    if not calls.exists():
        return []
    return [json.loads(line)["args"] for line in calls.read_text().splitlines()]


@pytest.mark.slow
def test_a_fork_report_is_posted_on_its_pull_request(
    clone: Path, tmp_path: Path
) -> None:
    run = _post(clone, tmp_path, _good())
    assert run.returncode == 0, run.output[-4000:]
    assert _cml_calls(run) == [
        [
            "comment",
            "update",
            "report.md",
            "--target=pr/1",
            "--repo=https://github.com/example/churn",
            "--watermark-title=churn model report",
        ]
    ]
    assert (run.record / "0" / "report-plots" / "roc-curve.png").read_bytes() == PNG


@pytest.mark.slow
def test_a_report_with_a_link_out_of_its_folder_is_not_posted(
    clone: Path, tmp_path: Path
) -> None:
    files = _good()
    files["report.md"] += b"\n![env](/proc/self/environ)\n"
    run = _post(clone, tmp_path, files)
    assert run.returncode != 0
    assert "Report refused" in run.output
    assert _cml_calls(run) == []


@pytest.mark.slow
def test_an_artifact_cannot_aim_at_another_pull_request(
    clone: Path, tmp_path: Path
) -> None:
    # The artifact names #1, but #1's head is not the commit train ran on.
    run = _post(clone, tmp_path, _good(), head="0" * 40)
    assert run.returncode == 0, run.output[-4000:]
    assert "has moved past" in run.output
    assert _cml_calls(run) == []


@pytest.mark.slow
def test_an_artifact_not_named_for_one_pull_request_is_refused(
    clone: Path, tmp_path: Path
) -> None:
    run = _post(clone, tmp_path, _good(), artifact="report-1;id")
    assert run.returncode != 0
    assert "no single report-<number> artifact" in run.output
    assert _cml_calls(run) == []


@pytest.mark.slow
def test_a_same_repository_run_must_name_its_own_pull_request(
    clone: Path, tmp_path: Path
) -> None:
    # The event says the run belongs to #1; the artifact claims #2.
    run = _post(clone, tmp_path, _good(), artifact="report-2", fork=False)
    assert run.returncode != 0
    assert "the artifact names #2" in run.output
    assert _cml_calls(run) == []
