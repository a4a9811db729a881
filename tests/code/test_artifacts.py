"""dvc.yaml declares the model as an artifact that `dvc artifacts get` and GTO find."""

import subprocess
from pathlib import Path

import yaml

from churn import config
from conftest import ROOT, clone, run


def _dvc_yaml() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())


def test_the_model_artifact_is_train_s_output() -> None:
    artifact = _dvc_yaml()["artifacts"]["churn-model"]
    assert artifact["type"] == "model" and artifact["path"] == config.FILES.model
    assert artifact["desc"] and artifact["labels"]
    outs = [
        next(iter(o)) if isinstance(o, dict) else o
        for o in _dvc_yaml()["stages"]["train"]["outs"]
    ]
    assert artifact["path"] in outs
    assert not (ROOT / "artifacts.yaml").exists()


def test_dvc_artifacts_get_finds_a_released_version(tmp_path: Path) -> None:
    repo = clone(tmp_path / "repo")
    # Before any release there is no version to get, and DVC says so.
    missing = run(
        ["dvc", "artifacts", "get", ".", "churn-model", "--show-url"], repo, check=False
    )
    assert missing.returncode != 0 and "churn-model" in missing.stderr
    subprocess.run(
        ["git", "tag", "-a", "churn-model@v0.0.1", "-m", "a release"],
        cwd=repo,
        check=True,
    )
    url = run(["dvc", "artifacts", "get", ".", "churn-model", "--show-url"], repo)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    (md5,) = {
        out["md5"]
        for out in lock["stages"]["train"]["outs"]
        if out["path"] == config.FILES.model
    }
    assert url.stdout.strip().endswith(f"{md5[:2]}/{md5[2:]}")
    shown = run(["gto", "show"], repo).stdout
    assert "churn-model" in shown and "v0.0.1" in shown
