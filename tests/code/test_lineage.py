"""A model's identity: what made it, recorded in `dvc.lock`, never its bytes."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from churn import contract, lineage, model_io
from churn.pipeline import prepare, train
from conftest import MODEL_PATH, ROOT

LOCK = yaml.safe_load((ROOT / "dvc.lock").read_text())


def _with_model(lock: dict, md5: str, size: int) -> dict:
    """`lock` as a machine would write it whose training gave a file of that md5."""
    out = copy.deepcopy(lock)
    for stage in out["stages"].values():
        for entry in (*stage.get("deps", []), *stage.get("outs", [])):
            if entry["path"] == MODEL_PATH:
                entry.update(md5=md5, size=size)
    return out


@pytest.fixture(scope="module")
def two_machines(tmp_path_factory: pytest.TempPathFactory, table) -> list[Path]:
    """One model file, and the same model with its coefficients a few ulps off.

    That is what two CPUs whose BLAS kernels round differently write for the same
    inputs.
    """
    data = prepare.clean(table.head(600))
    X, y = data.drop(columns=[contract.TARGET]), data[contract.TARGET]
    params = {"estimator": "logistic_regression", "logistic_regression": {}}
    model = train.train(X, y, params=params, seed=0)
    folder = tmp_path_factory.mktemp("machines")
    first = folder / "a.skops"
    model_io.save(model, first)
    estimator = model.named_steps["model"]
    estimator.coef_ = np.nextafter(estimator.coef_, np.inf)
    estimator.intercept_ = np.nextafter(estimator.intercept_, -np.inf)
    second = folder / "b.skops"
    model_io.save(model, second)
    return [first, second]


def _lock_for(path: Path, lock: dict = LOCK) -> dict:
    blob = path.read_bytes()
    return _with_model(lock, hashlib.md5(blob).hexdigest(), len(blob))


def test_models_that_differ_in_their_last_bits_have_one_identity(two_machines):
    a, b = two_machines
    assert a.read_bytes() != b.read_bytes()
    assert lineage.identity(_lock_for(a)) == lineage.identity(_lock_for(b))
    assert lineage.changed_since(_lock_for(a), _lock_for(b)) == []


def test_new_data_params_or_code_change_the_identity() -> None:
    changed = copy.deepcopy(LOCK)
    deps = changed["stages"]["train"]["deps"]
    data = next(d for d in deps if d["path"].endswith("train.parquet"))
    data["md5"] = "0" * 32
    assert lineage.changed_since(LOCK, changed) == [data["path"]]
    assert lineage.identity(changed) != lineage.identity(LOCK)
    params = copy.deepcopy(LOCK)
    params["stages"]["train"]["params"]["params.yaml"]["seed"] = 7
    assert lineage.changed_since(LOCK, params) == ["params.yaml"]
    command = copy.deepcopy(LOCK)
    command["stages"]["train"]["cmd"] = "python -m something.else"
    assert lineage.changed_since(LOCK, command) == ["cmd"]


def test_a_lock_without_train_inputs_cannot_be_judged(tmp_path: Path) -> None:
    with pytest.raises(lineage.LineageError, match="no inputs for stage 'train'"):
        lineage.identity({"stages": {"evaluate": {"deps": []}}})
    with pytest.raises(lineage.LineageError, match="has no md5"):
        lineage.identity({"stages": {"train": {"deps": [{"path": "x"}]}}})
    broken = tmp_path / "dvc.lock"
    broken.write_text("just text\n")
    with pytest.raises(lineage.LineageError, match="not a dvc.lock"):
        lineage.read_lock(broken)
    broken.write_text("stages: [\n")
    with pytest.raises(lineage.LineageError, match="dvc.lock: not YAML"):
        lineage.read_lock(broken)
    with pytest.raises(lineage.LineageError, match="cannot read it"):
        lineage.read_lock(tmp_path / "missing.lock")


def test_a_revision_that_does_not_exist_is_refused() -> None:
    for rev in ("orgin/main", "", "--all", "HEAD~99999"):
        with pytest.raises(lineage.LineageError, match="not found"):
            lineage.lock_at(rev)
    committed = yaml.safe_load(lineage.git_show("HEAD", "dvc.lock"))
    assert lineage.lock_at("HEAD") == committed


def test_command_says_unchanged_for_other_model_bytes_and_changed_for_new_data(
    tmp_path: Path, two_machines, capsys: pytest.CaptureFixture
) -> None:
    # The retrain workflow opens a pull request on `changed=true` only.
    head = lineage.lock_at("HEAD")
    other_cpu = tmp_path / "other.lock"
    other_cpu.write_text(yaml.safe_dump(_lock_for(two_machines[1], head)))
    assert lineage.main(["--lock", str(other_cpu), "--base", "HEAD"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "changed=false"
    assert lines[0] == f"inputs={lineage.identity(head)}"
    new_month = copy.deepcopy(head)
    new_month["stages"]["train"]["deps"][0]["md5"] = "f" * 32
    other_cpu.write_text(yaml.safe_dump(new_month))
    assert lineage.main(["--lock", str(other_cpu), "--base", "HEAD"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "changed=true"


def test_command_cannot_judge_without_a_base(tmp_path: Path, capsys) -> None:
    assert lineage.main(["--base", "no-such-branch"]) == 2
    assert lineage.main(["--lock", str(tmp_path / "none.lock")]) == 2
    assert "changed=" not in capsys.readouterr().out


def test_read_json_tells_missing_from_broken(tmp_path: Path) -> None:
    assert lineage.read_json(tmp_path / "absent.json") is None
    good = tmp_path / "good.json"
    good.write_text('{"roc_auc": 0.8}')
    assert lineage.read_json(good) == {"roc_auc": 0.8}
    broken = tmp_path / "broken.json"
    broken.write_text('{"roc_auc": ')
    with pytest.raises(lineage.LineageError, match="broken.json: not JSON"):
        lineage.read_json(broken)
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(lineage.LineageError, match="cannot read it"):
        lineage.read_json(binary)


def test_short_sha_and_dvc_json() -> None:
    head = lineage.git("rev-parse", "HEAD").strip()
    assert head.startswith(lineage.short_sha("HEAD"))
    assert lineage.short_sha("no-such-rev") is None
    params = lineage.dvc_json(["params", "diff", "HEAD"])
    assert params is None or isinstance(params, dict)
    with pytest.raises(
        lineage.LineageError, match="dvc metrics diff no-such-rev failed"
    ):
        lineage.dvc_json(["metrics", "diff", "no-such-rev"])


def test_json_at_reads_a_committed_file() -> None:
    committed = json.loads(lineage.git_show("HEAD", "metrics/metrics.json"))
    assert lineage.json_at("HEAD", "metrics/metrics.json") == committed
    assert lineage.json_at("HEAD", "metrics/absent.json") is None
    with pytest.raises(lineage.LineageError, match="HEAD:dvc.yaml: not JSON"):
        lineage.json_at("HEAD", "dvc.yaml")
