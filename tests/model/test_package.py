"""The model package: contents, card, SHA-256 check on load; release floor, versions."""

import hashlib
import json
import logging
import re
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from churn import config, contract, lineage, model_io, stats
from churn.delivery import archive, package, release
from churn.pipeline import modelcard, profile
from churn.review import gate
from delivery_helpers import (
    PARAMS,
    build_package,
    bundled,
    fitted,
    reference_proba,
    split,
)


def test_package_holds_model_hash_card_metrics_schema(built: Path) -> None:
    assert built.name == "churn-model-1.0.0"
    assert sorted(p.name for p in built.iterdir()) == [
        "examples.json",
        "manifest.json",
        "metrics.json",
        "model.skops",
        "model.skops.sha256",
        "model_card.json",
        "model_card.md",
        "profile.json",
        "request.schema.json",
    ]
    digest = hashlib.sha256((built / "model.skops").read_bytes()).hexdigest()
    assert (built / "model.skops.sha256").read_text() == f"{digest}  model.skops\n"
    info = json.loads((built / "manifest.json").read_text())
    assert info["model"]["sha256"] == digest
    assert info["tag"] == "churn-model@v1.0.0"
    assert info["metrics"]["roc_auc"] > 0.8
    # What ingest made the table from: the typed table validate passed, and months.
    assert [s["path"] for s in info["data"]["sources"]] == [
        config.FILES.validated,
        config.FILES.months,
    ]
    assert info["data"]["rows"] == 7043
    # No pipeline card files: the card is modelcard's own, from the same inputs.
    card = json.loads((built / "model_card.json").read_text())
    assert card["metrics"] == info["metrics"]
    assert card["model"]["estimator"] == info["model"]["estimator"]
    markdown = (built / "model_card.md").read_text()
    assert markdown == modelcard.render(card) + "\n"
    assert "| roc_auc |" in markdown
    schema = json.loads((built / "request.schema.json").read_text())
    assert schema["properties"]["customers"]["maxItems"] == 10_000


def test_the_profile_is_the_drift_stages_profile_of_the_training_data(
    built: Path,
) -> None:
    profile_doc = package.load(built).profile
    train, test = split()
    # The same code as the drift stage, on the rows the model learnt from.
    expected = profile.build(train, bins=PARAMS["drift"]["bins"])
    assert profile_doc["features"] == json.loads(json.dumps(expected))
    assert profile_doc["rows"] == len(train)
    assert profile_doc["features"]["contract"]["levels"] == [
        "Month-to-month",
        "One year",
        "Two year",
    ]
    assert profile_doc["thresholds"] == {
        "psi": PARAMS["drift"]["psi_threshold"],
        "p_value": PARAMS["drift"]["p_value"],
        "bins": PARAMS["drift"]["bins"],
    }
    # The scores are the model's on the test split, and so is the ROC AUC.
    scores = reference_proba(fitted(), bundled().loc[test.index])
    assert profile_doc["score"]["rows"] == len(test)
    assert profile_doc["score"]["mean"] == pytest.approx(scores.mean(), abs=1e-9)
    perf = profile_doc["performance"]
    assert perf["value"] == pytest.approx(
        stats.metric_values(test[contract.TARGET], scores, threshold=0.5)["roc_auc"],
        abs=1e-9,
    )
    assert (
        perf["low"] < perf["value"] < perf["high"] and perf["high"] - perf["low"] < 0.1
    )
    assert perf["resamples"] == PARAMS["gate"]["resamples"]


def test_a_package_without_training_data_has_no_profile(tmp_path: Path) -> None:
    pkg = package.load(build_package(tmp_path, training=None))
    assert pkg.profile is None


def test_archive_is_the_folder_and_reproducible(built: Path, tmp_path: Path) -> None:
    packed = built.with_name(built.name + ".tar.gz")
    with tarfile.open(packed) as tar:
        names = sorted(tar.getnames())
        assert names == sorted(f"{built.name}/{p.name}" for p in built.iterdir())
    first = packed.read_bytes()
    assert archive.write(built).read_bytes() == first


def test_examples_record_the_pipeline_probabilities(built: Path) -> None:
    pkg = package.load(built)
    examples = pkg.read_json("examples.json")
    customers = examples["request"]["customers"]
    # An unbilled customer is shown whenever the test split holds one.
    test_ids = set(split()[1][contract.ID])
    unbilled = bundled().query("tenure == 0")[contract.ID].isin(test_ids).any()
    assert any(c["total_charges"] is None for c in customers) == unbilled
    ids = [c["customer_id"] for c in customers]
    table = bundled().set_index("customer_id").loc[ids].reset_index()
    np.testing.assert_allclose(
        examples["churn_probability"], reference_proba(pkg.model, table), atol=1e-12
    )


def test_folder_and_archive_load(built: Path) -> None:
    for path in (built, built.with_name(built.name + ".tar.gz")):
        pkg = package.load(path)
        assert pkg.version == "1.0.0"
        assert pkg.manifest["model"]["estimator"] == "logistic_regression"


def _copy(built: Path, tmp_path: Path) -> Path:
    dest = tmp_path / built.name
    dest.mkdir()
    for p in built.iterdir():
        (dest / p.name).write_bytes(p.read_bytes())
    return dest


def test_a_tampered_model_file_is_refused(built: Path, tmp_path: Path) -> None:
    copy = _copy(built, tmp_path)
    blob = bytearray((copy / "model.skops").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (copy / "model.skops").write_bytes(bytes(blob))
    with pytest.raises(model_io.ModelIntegrityError) as info:
        package.load(copy)
    message = str(info.value)
    assert "model.skops" in message and "SHA-256" in message
    assert (
        json.loads((copy / "manifest.json").read_text())["model"]["sha256"] in message
    )
    assert "not loaded" in message


def test_a_swapped_valid_model_is_refused(built: Path, tmp_path: Path) -> None:
    # Another perfectly loadable skops model in its place is still not the release.
    copy = _copy(built, tmp_path)
    model_io.save(fitted("hist_gradient_boosting"), copy / "model.skops")
    with pytest.raises(model_io.ModelIntegrityError, match="changed after"):
        package.load(copy)


def test_hash_file_and_manifest_must_agree(built: Path, tmp_path: Path) -> None:
    copy = _copy(built, tmp_path)
    (copy / "model.skops.sha256").write_text(f"{'0' * 64}  model.skops\n")
    with pytest.raises(model_io.ModelIntegrityError, match="altered"):
        package.load(copy)


def test_model_io_checks_the_hash_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "model.skops"
    model_io.save(fitted(), path)
    digest = model_io.sha256(path)
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert model_io.load(path, expected_sha256=digest.upper()) is not None
    path.write_bytes(b"not even a zip file")
    # The hash check comes first, so skops never parses the bytes.
    with pytest.raises(model_io.ModelIntegrityError, match=str(path)):
        model_io.load(path, expected_sha256=digest)
    with pytest.raises(zipfile.BadZipFile):
        model_io.load(path)


def test_not_a_package(tmp_path: Path) -> None:
    with pytest.raises(package.PackageError, match="manifest.json is missing"):
        package.load(tmp_path)


def test_below_the_floor_nothing_is_packaged(tmp_path: Path) -> None:
    params = {**PARAMS, "gate": {**PARAMS["gate"], "floor": 0.99}}
    with pytest.raises(
        release.BelowFloorError, match="roc_auc .* below the floor 0.99"
    ):
        build_package(tmp_path, params=params)
    assert not (tmp_path / "dist").exists()


def test_the_release_floor_is_the_gate_s_floor() -> None:
    rules = gate.Rules(metric="roc_auc", tolerance=0.005, floor=0.8)
    assert release.floor_failure({"roc_auc": 0.84}, rules) is None
    assert release.floor_failure({"roc_auc": 0.8}, rules) is None
    assert release.floor_failure({"roc_auc": 0.7}, rules) == (
        "roc_auc 0.7 is below the floor 0.8"
    )
    assert release.floor_failure({"f1": 0.9}, rules) == (
        "cannot judge the floor: roc_auc is missing from the metrics"
    )
    # Lower is better for log loss: its floor is a ceiling.
    loss = gate.Rules(metric="log_loss", tolerance=0.01, floor=0.5)
    assert release.floor_failure({"log_loss": 0.45}, loss) is None
    assert release.floor_failure({"log_loss": 0.6}, loss) == (
        "log_loss 0.6 is above the floor 0.5"
    )
    # A model the pull-request gate lets through on the floor rule may be released.
    assert "release" not in PARAMS
    release.check_floor({"roc_auc": PARAMS["gate"]["floor"]}, PARAMS)


def test_the_pipeline_s_card_files_are_shipped_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    monkeypatch.setattr(config, "CARD_MD", reports / "model_card.md")
    monkeypatch.setattr(config, "CARD_JSON", reports / "model_card.json")
    assert modelcard.written() == []
    (reports / "model_card.md").write_text("# The pipeline's own card\n")
    cards = modelcard.written()
    assert cards == [reports / "model_card.md"]
    built = build_package(tmp_path, cards=cards)
    assert (built / "model_card.md").read_text() == "# The pipeline's own card\n"
    assert not (built / "model_card.json").exists()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This checkout's committed files, with its DVC outputs made in `tmp_path`."""
    model_io.save(fitted(), tmp_path / "model.skops")
    bundled().to_parquet(tmp_path / "raw.parquet")
    split()[0].to_parquet(tmp_path / "train.parquet")
    split()[1].to_parquet(tmp_path / "test.parquet")
    for name, path in {
        "MODEL_FILE": tmp_path / "model.skops",
        "RAW_DATA": tmp_path / "raw.parquet",
        "TRAIN_DATA": tmp_path / "train.parquet",
        "TEST_DATA": tmp_path / "test.parquet",
        "CARD_MD": tmp_path / "reports" / "model_card.md",
        "CARD_JSON": tmp_path / "reports" / "model_card.json",
    }.items():
        monkeypatch.setattr(config, name, path)
    return tmp_path


def test_without_the_pipeline_s_card_modelcard_renders_it(workspace: Path) -> None:
    built = package.build_from_workspace(
        workspace / "dist", "1.0.0", config.load_params()
    )
    card = json.loads((built / "model_card.json").read_text())
    # modelcard's own card of this checkout: its metrics, drift and validation.
    assert card["metrics"] == json.loads(config.MODEL_METRICS.read_text())
    drift = json.loads(config.DRIFT_METRICS.read_text())
    assert card["drift"]["verdict"] == drift["verdict"]
    assert card["model"]["md5"] == lineage.out_hashes(
        lineage.read_lock(config.LOCK_FILE)
    ).get(config.FILES.model)
    assert (built / "model_card.md").read_text() == modelcard.render(card) + "\n"
    assert not (workspace / "reports").exists()


def test_with_the_pipeline_s_card_it_is_shipped(workspace: Path) -> None:
    (workspace / "reports").mkdir()
    config.CARD_MD.write_text("# Model card: churn\n\nas `churn model-card` wrote it\n")
    config.CARD_JSON.write_text('{"written": "by churn model-card"}\n')
    built = package.build_from_workspace(
        workspace / "dist", "1.0.0", config.load_params()
    )
    assert (built / "model_card.md").read_bytes() == config.CARD_MD.read_bytes()
    assert (built / "model_card.json").read_bytes() == config.CARD_JSON.read_bytes()


def test_a_card_that_is_not_strict_json_packages_nothing(workspace: Path) -> None:
    (workspace / "reports").mkdir()
    config.CARD_JSON.write_text('{"metrics": {"roc_auc": NaN}}\n')
    with pytest.raises(package.PackageError, match="model_card.json is not strict"):
        package.build_from_workspace(workspace / "dist", "1.0.0", config.load_params())
    assert list((workspace / "dist").iterdir()) == []


@pytest.mark.parametrize(
    ("tags", "bump", "expected"),
    [
        ([], "minor", "1.0.0"),
        (["v3.0.0", "other@v9.0.0"], "minor", "1.0.0"),
        (["churn-model@v1.2.0"], "minor", "1.3.0"),
        (["churn-model@v1.2.0", "churn-model@v1.10.0"], "minor", "1.11.0"),
        (["churn-model@v1.2.3"], "patch", "1.2.4"),
        (["churn-model@v1.2.3"], "major", "2.0.0"),
    ],
)
def test_next_version(tags: list[str], bump: str, expected: str) -> None:
    assert release.next_version(tags, bump) == expected


def test_versions_must_be_semantic() -> None:
    assert release.check_version("1.2.0-rc.1") == "1.2.0-rc.1"
    with pytest.raises(release.ReleaseError, match="not semantic"):
        release.check_version("v1.2")
    with pytest.raises(ValueError, match="unknown bump"):
        release.next_version(["churn-model@v1.0.0"], "huge")


def test_package_command_refuses_a_model_below_the_floor(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        code = package.main(["--floor", "0.99", "--out", str(tmp_path)])
    assert code == 1
    assert re.search(r"roc_auc [\d.]+ is below the floor 0.99", caplog.text)
    assert "gate.floor in params.yaml" in caplog.text
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("floor", ["nan", "inf"])
def test_package_command_refuses_a_floor_that_is_no_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, floor: str
) -> None:
    with caplog.at_level(logging.ERROR):
        code = package.main(["--floor", floor, "--out", str(tmp_path)])
    assert code == 1
    assert f"cannot judge the floor: gate.floor must be finite, got {floor}" in (
        caplog.text
    )
    assert "Traceback" not in caplog.text
    assert list(tmp_path.iterdir()) == []


SHA = "ab" * 32
INPUTS = "12" * 32


@pytest.mark.parametrize(
    ("tags", "changed", "version"),
    [
        ({}, "true", "1.0.0"),
        (
            {
                "churn-model@v1.2.0": f"Registering\n\nmodel inputs {INPUTS}\n\n"
                f"model.skops sha256 {'cd' * 32}"
            },
            # Same inputs, other model bytes (another CPU): nothing new.
            "false",
            "1.3.0",
        ),
        (
            {"churn-model@v1.2.0": f"Registering\n\nmodel inputs {'34' * 32}"},
            "true",
            "1.3.0",
        ),
        # The file's hash alone says nothing about what made the model.
        ({"churn-model@v1.2.0": f"model.skops sha256 {SHA}"}, "true", "1.3.0"),
        ({"churn-model@v1.2.0": "an old tag without a hash"}, "true", "1.3.0"),
        (
            {
                "churn-model@v1.1.0": f"model inputs {INPUTS}",
                "churn-model@v1.2.0": "a newer model",
            },
            "true",
            "1.3.0",
        ),
    ],
)
def test_release_plan(tags: dict, changed: str, version: str) -> None:
    plan = release.release_plan(tags, INPUTS, SHA, "minor")
    assert plan == {
        "version": version,
        "tag": f"churn-model@v{version}",
        "inputs": INPUTS,
        "sha256": SHA,
        "changed": changed,
    }


def test_latest_tag_compares_versions_not_text() -> None:
    tags = ["churn-model@v1.9.0", "churn-model@v1.10.0", "other@v9.0.0"]
    assert release.latest_tag(tags) == "churn-model@v1.10.0"
    assert release.latest_tag(["v1.0.0"]) is None


def test_release_plan_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    model = tmp_path / "model.skops"
    model_io.save(fitted(), model)
    monkeypatch.setattr(config, "MODEL_FILE", model)
    assert package.main(["--release-plan", "--bump", "patch"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("=")[0] for line in lines] == [
        "version",
        "tag",
        "inputs",
        "sha256",
        "changed",
    ]
    assert f"sha256={model_io.sha256(model)}" in lines
    assert f"inputs={lineage.identity(lineage.read_lock(config.LOCK_FILE))}" in lines
    monkeypatch.setattr(config, "MODEL_FILE", tmp_path / "missing.skops")
    assert package.main(["--release-plan"]) == 1


def test_release_plan_refuses_a_lock_it_cannot_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model = tmp_path / "model.skops"
    model_io.save(fitted(), model)
    monkeypatch.setattr(config, "MODEL_FILE", model)
    monkeypatch.setattr(config, "LOCK_FILE", tmp_path / "dvc.lock")
    assert package.main(["--release-plan"]) == 1
    assert "cannot plan the release" in caplog.text
