"""The act driver: every action of a workflow maps to a local stand-in, by exact ref."""

from pathlib import Path

import actrun
import pytest

from conftest import ROOT


def test_every_action_maps_to_a_stand_in_with_its_exact_ref() -> None:
    for workflow in (ROOT / ".github" / "workflows").glob("*.yml"):
        args = actrun.mappings(workflow)
        refs = args[1::2]
        assert args[0::2] == ["--local-repository"] * len(refs)
        for ref, use in zip(refs, actrun.uses(workflow), strict=True):
            assert ref.startswith(f"{use}=")
            assert (Path(ref.split("=", 1)[1]) / "action.yml").is_file()


def test_an_unmapped_action_is_an_error(tmp_path: Path) -> None:
    workflow = tmp_path / "w.yml"
    workflow.write_text("jobs:\n  a:\n    steps:\n      - uses: some/action@v1\n")
    with pytest.raises(FileNotFoundError, match="some/action@v1"):
        actrun.mappings(workflow)


def test_set_param() -> None:
    params = {"train": {"logistic_regression": {"C": 1.0}}}
    actrun.set_param(params, "train.logistic_regression.C=0.3")
    assert params["train"]["logistic_regression"]["C"] == 0.3
    with pytest.raises(KeyError, match="train.nope"):
        actrun.set_param(params, "train.nope=1")


def test_act_reads_a_copy_without_the_permissions_its_schema_lacks(
    tmp_path: Path,
) -> None:
    release = ROOT / ".github" / "workflows" / "release.yml"
    copy = actrun.act_compatible(release, tmp_path)
    assert copy != release and "artifact-metadata" in release.read_text()
    dropped = [
        line
        for line in release.read_text().splitlines()
        if line not in copy.read_text().splitlines()
    ]
    assert dropped == [line for line in dropped if "artifact-metadata:" in line]
    assert len(dropped) == 1
    train = ROOT / ".github" / "workflows" / "train.yml"
    assert actrun.act_compatible(train, tmp_path) == train
