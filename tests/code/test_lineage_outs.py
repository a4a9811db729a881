"""`lineage.out_at`: a revision's per-row output, from the DVC cache by the md5 its
`dvc.lock` records (checked), or from git for a revision that still commits it.

The repository is a real DVC one: a one-stage pipeline writes a tiny
`metrics/predictions.csv` as a cached out, so the object sits where DVC itself puts
it, and every way of not finding it is a `LineageError` (or None: nothing recorded).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from churn import lineage

PREDICTIONS = "metrics/predictions.csv"
TEXT = "customer_id,label,score\n1,0,0.1\n2,1,0.9\n"
WRITE = (
    "import pathlib; p = pathlib.Path('metrics/predictions.csv'); "
    "p.parent.mkdir(exist_ok=True); p.write_text(pathlib.Path('rows.csv').read_text())"
)


def _run(repo: Path, *cmd: str) -> str:
    proc = subprocess.run(cmd, cwd=repo, check=True, capture_output=True, text=True)
    return proc.stdout


def _dvc(repo: Path, *args: str) -> str:
    return _run(repo, sys.executable, "-m", "dvc", *args)


def _stage(cache: bool) -> dict:
    out = PREDICTIONS if cache else {PREDICTIONS: {"cache": False}}
    cmd = f'{sys.executable} -c "{WRITE}"'
    return {"stages": {"evaluate": {"cmd": cmd, "deps": ["rows.csv"], "outs": [out]}}}


def _commit(repo: Path, message: str, *, cache: bool = True) -> None:
    (repo / "dvc.yaml").write_text(yaml.safe_dump(_stage(cache)))
    _dvc(repo, "repro", "-q")
    _run(repo, "git", "add", "-A")
    if not cache:  # committed, as before they moved to the cache
        _run(repo, "git", "add", "--force", PREDICTIONS)
    _run(repo, "git", "commit", "-qm", message)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`main`'s predictions are a cached out; the workspace has moved on since."""
    path = tmp_path_factory.mktemp("outs") / "repo"
    path.mkdir()
    _run(path, "git", "init", "-q", "-b", "main")
    _run(path, "git", "config", "user.email", "test@example.com")
    _run(path, "git", "config", "user.name", "test")
    _dvc(path, "init", "-q")
    (path / "rows.csv").write_text(TEXT)
    _commit(path, "main")
    (path / "rows.csv").write_text(TEXT.replace("0.9", "0.8"))
    _dvc(path, "repro", "-q")
    return path


@pytest.fixture()
def repo(template: Path, tmp_path: Path) -> Path:
    """A copy of the template for one test to change."""
    return Path(shutil.copytree(template, tmp_path / "repo", symlinks=True))


def _object(repo: Path, rev: str = "main") -> Path:
    md5 = lineage.out_hashes(lineage.lock_at(rev, cwd=repo))[PREDICTIONS]
    return lineage.cache_dir(repo) / "files" / "md5" / md5[:2] / md5[2:]


def test_the_base_predictions_come_from_the_cache_not_the_workspace(repo) -> None:
    assert _run(repo, "git", "ls-files", PREDICTIONS) == ""  # not in git
    assert (repo / PREDICTIONS).read_text() != TEXT  # the workspace moved on
    assert lineage.out_at("main", PREDICTIONS, cwd=repo) == TEXT
    assert _object(repo).is_file()


def test_the_cache_is_where_dvc_says_it_is(repo, tmp_path: Path) -> None:
    assert lineage.cache_dir(repo) == repo / ".dvc" / "cache"
    elsewhere = tmp_path / "shared-cache"
    (repo / ".dvc" / "cache").rename(elsewhere)
    _dvc(repo, "cache", "dir", "--local", str(elsewhere))
    assert Path(_dvc(repo, "cache", "dir").strip()) == elsewhere
    assert lineage.cache_dir(repo) == elsewhere
    assert lineage.out_at("main", PREDICTIONS, cwd=repo) == TEXT


def test_an_object_missing_from_the_cache_names_what_is_missing(repo) -> None:
    _object(repo).unlink()
    with pytest.raises(lineage.LineageError, match="is not in the DVC cache") as exc:
        lineage.out_at("main", PREDICTIONS, cwd=repo)
    assert PREDICTIONS in str(exc.value) and str(repo / ".dvc" / "cache") in str(
        exc.value
    )


def test_an_object_whose_bytes_have_another_md5_is_refused(repo) -> None:
    obj = _object(repo)
    obj.chmod(0o644)
    obj.write_text(TEXT.replace("0.1", "0.2"))
    with pytest.raises(lineage.LineageError, match="do not have the md5"):
        lineage.out_at("main", PREDICTIONS, cwd=repo)


def test_a_lock_without_the_output_means_the_revision_has_none(repo) -> None:
    (repo / "dvc.yaml").write_text("stages: {}\n")
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages: {}\n")
    _run(repo, "git", "add", "-A")
    _run(repo, "git", "commit", "-qm", "no predictions")
    assert lineage.out_at("HEAD", PREDICTIONS, cwd=repo) is None


def test_an_old_base_with_predictions_in_git_is_read_from_git(repo) -> None:
    _commit(repo, "predictions kept in git", cache=False)
    assert _run(repo, "git", "ls-files", PREDICTIONS).strip() == PREDICTIONS
    (repo / ".dvc" / "cache").rename(repo.parent / "gone")  # no cache at all
    old = TEXT.replace("0.9", "0.8")
    assert lineage.out_at("HEAD", PREDICTIONS, cwd=repo) == old


def test_a_revision_that_does_not_exist_is_an_error(repo) -> None:
    with pytest.raises(lineage.LineageError, match="'nope' not found"):
        lineage.out_at("nope", PREDICTIONS, cwd=repo)


def test_the_cli_says_whether_the_output_can_be_read(repo) -> None:
    command = [sys.executable, "-m", "churn.lineage", "--readable", PREDICTIONS]
    command += ["--base", "main"]
    env = {"PYTHONPATH": str(Path(lineage.__file__).parents[1]), "NO_COLOR": "1"}
    ok = subprocess.run(command, cwd=repo, env=env, text=True, capture_output=True)
    _object(repo).unlink()
    gone = subprocess.run(command, cwd=repo, env=env, text=True, capture_output=True)
    assert (ok.returncode, ok.stdout) == (0, "readable=true\n")
    assert gone.returncode == 2 and "is not in the DVC cache" in gone.stderr
