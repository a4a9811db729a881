"""The act driver: every action of a workflow maps to a local stand-in, by exact ref."""

from pathlib import Path

import actrun
import pytest

from conftest import ROOT


def test_every_action_maps_to_a_stand_in_with_its_exact_ref() -> None:
    # act maps repositories: `actions/cache/save@REF` is the folder `save/` of the
    # stand-in that `actions/cache@REF` maps to, and each repository is mapped once.
    for workflow in (ROOT / ".github" / "workflows").glob("*.yml"):
        args = actrun.mappings(workflow)
        refs = dict(a.split("=", 1) for a in args[1::2])
        assert args[0::2] == ["--local-repository"] * len(refs)
        for use in actrun.uses(workflow):
            name, version = use.split("@", 1)
            owner, repo, *sub = name.split("/")
            folder = Path(refs[f"{owner}/{repo}@{version}"])
            assert folder.joinpath(*sub, "action.yml").is_file(), use


def test_actions_in_folders_of_a_repository_share_its_mapping(tmp_path: Path) -> None:
    ref = "27d5ce7f107fe9357f9df03efb73ab90386fccae"
    workflow = tmp_path / "w.yml"
    steps = "".join(
        f"      - uses: actions/cache{sub}@{ref}\n" for sub in ("", "/restore", "/save")
    )
    workflow.write_text(f"jobs:\n  a:\n    steps:\n{steps}")
    folder = actrun.STANDINS / "actions" / "cache"
    assert actrun.mappings(workflow) == [
        "--local-repository",
        f"actions/cache@{ref}={folder}",
    ]
    workflow.write_text(workflow.read_text().replace("/save@", "/purge@"))
    with pytest.raises(FileNotFoundError, match="actions/cache/purge@"):
        actrun.mappings(workflow)


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
