"""The model package: what a release ships and what the service loads.

`churn package --version 1.2.0` checks the metrics against the gate's floor, then
writes `dist/churn-model-1.2.0/` and the same files as `dist/churn-model-1.2.0.tar.gz`:

    model.skops          the fitted pipeline (skops: loading runs no pickled code)
    model.skops.sha256   its SHA-256, in `sha256sum` format
    manifest.json        version, hash, estimator, metrics, data version, threshold
    metrics.json         the test-split metrics of this model
    request.schema.json  JSON schema of a `POST /predict` body, from the data contract
    examples.json        a real request and the probabilities the model gave it
    model_card.md/.json  the pipeline's model card, or a minimal one built here
    profile.json         the reference profile `churn monitor` judges traffic by

`load` refuses a package whose model file does not hash to the recorded SHA-256.
`churn package --release-plan` prints the next release version from the git tags
(`churn-model@v1.2.0`, the form GTO reads) and whether the model's inputs changed
since the last one.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.pipeline import Pipeline

from churn import config, contract, lineage, model_io
from churn.delivery import reference, schema
from churn.pipeline import prepare
from churn.review import gate

log = logging.getLogger(__name__)

NAME = "churn-model"
MODEL = "model.skops"
MANIFEST = "manifest.json"
METRICS = "metrics.json"
SCHEMA = "request.schema.json"
EXAMPLES = "examples.json"
CARD_MD = "model_card.md"
CARD_JSON = "model_card.json"
DEV_VERSION = "0.0.0-dev"
#: Where the pipeline's own model card may be; the first folder holding one wins.
CARD_DIRS = ("reports", "models")
#: Test-split customers recorded with their probabilities in `examples.json`.
EXAMPLE_ROWS = 5

_VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?$")
_TAG = re.compile(rf"^{NAME}@v(\d+)\.(\d+)\.(\d+)$")
#: How a release tag's message names the inputs its model was built from.
INPUTS_LINE = "model inputs"


class PackageError(ValueError):
    """A package that cannot be built or loaded, and why."""


class BelowFloorError(PackageError):
    """Metrics below the absolute floor a released model must meet."""


# --- versions and tags ------------------------------------------------------------


def tag_for(version: str) -> str:
    """The git tag of a model version, in GTO's `name@vX.Y.Z` form."""
    return f"{NAME}@v{version}"


def next_version(tags: list[str], bump: str = "minor") -> str:
    """The version after the highest `churn-model@vX.Y.Z` tag in `tags`.

    Other tags are ignored. The first release is 1.0.0, whatever the bump.
    """
    found = [tuple(int(x) for x in m.groups()) for t in tags if (m := _TAG.match(t))]
    if not found:
        return "1.0.0"
    major, minor, patch = max(found)
    if bump == "major":
        return f"{major + 1}.0.0"
    if bump == "minor":
        return f"{major}.{minor + 1}.0"
    if bump == "patch":
        return f"{major}.{minor}.{patch + 1}"
    raise ValueError(f"unknown bump {bump!r}; choose major, minor or patch")


def latest_tag(tags: list[str]) -> str | None:
    """The highest `churn-model@vX.Y.Z` tag in `tags`, if any."""
    found = [
        (tuple(int(x) for x in m.groups()), t) for t in tags if (m := _TAG.match(t))
    ]
    return max(found)[1] if found else None


def release_plan(
    tags: dict[str, str], inputs: str, sha256: str, bump: str
) -> dict[str, str]:
    """What the release workflow does next, from the tags and their messages.

    The workflow writes a `model inputs <hex>` line (the model's identity,
    `churn.lineage.identity`) into each tag's message. `changed` is "false" when the
    latest release was built from the same inputs: a merge that changed only docs or
    tests has nothing new to release, even where the runner's CPU wrote other model
    bytes for the same data, params and code. `sha256` is the file's, for the tag.
    """
    latest = latest_tag(list(tags))
    released = re.search(
        rf"^{INPUTS_LINE} ([0-9a-f]{{64}})$", tags.get(latest or "", ""), re.M
    )
    version = next_version(list(tags), bump)
    return {
        "version": version,
        "tag": tag_for(version),
        "inputs": inputs,
        "sha256": sha256,
        "changed": "false" if released and released.group(1) == inputs else "true",
    }


def check_version(version: str) -> str:
    """`version` if it is semantic (1.2.0, 1.2.0-rc.1), else a `PackageError`."""
    if not _VERSION.match(version):
        raise PackageError(f"version {version!r} is not semantic (e.g. 1.2.0)")
    return version


# --- the release floor ------------------------------------------------------------


def floor_failure(metrics: dict[str, float], rules: gate.Rules) -> str | None:
    """Why `metrics` miss the gate's absolute floor, or None if they clear it."""
    value = metrics.get(rules.metric)
    if value is None:
        return f"{rules.metric} is missing from the metrics"
    if rules.below_floor(value):
        side = "below" if rules.higher_is_better else "above"
        return f"{rules.metric} {value} is {side} the floor {rules.floor}"
    return None


def check_floor(metrics: dict[str, float], params: dict[str, Any]) -> None:
    """Raise `BelowFloorError` if `metrics` miss the floor set in `params`.

    It is the pull-request gate's floor (`gate.floor`): one bar for what may merge
    and what may ship, so a model the gate let through is never refused here.
    """
    failure = floor_failure(metrics, gate.Rules.from_params(params))
    if failure:
        raise BelowFloorError(
            f"{failure} (gate.floor in params.yaml): no model below it is released"
        )


# --- what goes into the package ---------------------------------------------------


def data_version(lock: dict[str, Any], validation: dict[str, Any]) -> dict[str, Any]:
    """The data the model was trained on, as `dvc.lock` and validation recorded it."""
    ingest = (lock.get("stages") or {}).get("ingest") or {}
    return {
        "sources": [
            {"path": d["path"], "md5": d.get("md5")}
            for d in ingest.get("deps", [])
            if d["path"].startswith("data/")
        ],
        "table": [
            {"path": o["path"], "md5": o.get("md5")} for o in ingest.get("outs", [])
        ],
        "rows": validation.get("rows"),
    }


def pick_examples(raw: pd.DataFrame, test_ids: pd.Series, rows: int) -> pd.DataFrame:
    """`rows` customers of the test split as ingested, one not yet billed if any."""
    held_out = raw[raw[contract.ID].isin(test_ids)]
    unbilled = held_out[held_out["tenure"].eq(0)].head(1)
    rest = held_out.drop(index=unbilled.index).head(rows - len(unbilled))
    return pd.concat([rest, unbilled])


def examples(model: Pipeline, customers: pd.DataFrame) -> dict[str, Any]:
    """A request for `customers` (as ingested) and the probabilities `model` gives.

    The probabilities come from the pipeline's own path (`prepare.clean`, then the
    fitted pipeline), so a service that reproduces them serves the same model.
    """
    request = request_rows(customers)
    proba = model.predict_proba(prepare.clean(customers)[contract.feature_names()])
    return {
        "request": {"customers": request},
        "churn_probability": proba[:, 1].tolist(),
    }


def request_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of an ingested table shaped like the customers of `POST /predict`."""
    columns = [contract.ID, *contract.feature_names()]
    records = table[columns].astype(object).to_dict("records")
    return [{k: _plain(v) for k, v in r.items()} for r in records]


def _plain(value: Any) -> Any:
    # JSON has no pandas NA or numpy scalars.
    if (
        value is None
        or value is pd.NA
        or (isinstance(value, float) and np.isnan(value))
    ):
        return None
    return value.item() if isinstance(value, np.generic) else value


def manifest(
    *,
    version: str,
    sha256: str,
    inputs: str | None,
    params: dict[str, Any],
    metrics: dict[str, float],
    data: dict[str, Any],
    commit: str | None,
    max_batch: int,
) -> dict[str, Any]:
    """The package's description: everything `GET /model` reports."""
    train = params.get("train") or {}
    estimator = train.get("estimator")
    return {
        "name": NAME,
        "version": version,
        "tag": tag_for(version),
        "commit": commit,
        "model": {
            "file": MODEL,
            "format": "skops",
            "sha256": sha256,
            # What made the model (`churn.lineage`): the same on every machine.
            "inputs": inputs,
            "estimator": estimator,
            "hyperparameters": train.get(estimator) or {},
        },
        "threshold": (params.get("evaluate") or {}).get("threshold", 0.5),
        "metrics": metrics,
        "data": data,
        "request_schema": SCHEMA,
        "max_batch": max_batch,
        "features": contract.feature_names(),
        "versions": {
            "python": platform.python_version(),
            **{pkg: metadata.version(pkg) for pkg in ("scikit-learn", "skops")},
        },
    }


def card_markdown(info: dict[str, Any]) -> str:
    """A minimal model card, for when the pipeline has not written one."""
    model = info["model"]
    hyper = ", ".join(f"{k}={v}" for k, v in model["hyperparameters"].items())
    rows = "\n".join(f"| {k} | {v} |" for k, v in info["metrics"].items())
    sources = "\n".join(
        f"- `{s['path']}` (md5 `{s['md5']}`)" for s in info["data"]["sources"]
    )
    return f"""# Model card: {info["name"]} {info["version"]}

## Model
- Predicts the probability that a telecom customer churns (leaves) in the next
  period, from the {len(info["features"])} features of the data contract
  (`src/churn/contract.py`).
- scikit-learn pipeline: scaling, one-hot encoding, `{model["estimator"]}` ({hyper}).
- File `{model["file"]}` ({model["format"]}), SHA-256 `{model["sha256"]}`.
- Built from commit `{info["commit"] or "unknown"}`.

## Data
Trained on {info["data"]["rows"] or "unknown"} customers of the IBM Telco sample:
{sources or "- (no data version recorded)"}

## Test-split metrics
| metric | value |
|---|---|
{rows}

A customer is flagged as likely to churn at probability {info["threshold"]} or above.

## Intended use and limits
- Ranking customers for retention offers; not for decisions about individuals
  without a person in the loop.
- Fitted on one historical sample: scores drift when prices, products or the
  customer base change. Requests outside the data contract are refused.
"""


def find_card(root: Path) -> list[Path]:
    """The pipeline's model card files (`model_card.md`/`.json`), if it wrote any."""
    for folder in CARD_DIRS:
        found = [root / folder / name for name in (CARD_MD, CARD_JSON)]
        found = [p for p in found if p.is_file()]
        if found:
            return found
    return []


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def build(
    out: Path,
    *,
    version: str,
    model_file: Path,
    params: dict[str, Any],
    metrics: dict[str, float],
    lock: dict[str, Any],
    validation: dict[str, Any],
    customers: pd.DataFrame,
    cards: list[Path],
    commit: str | None = None,
    enforce_floor: bool = True,
    training: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> Path:
    """Write the package folder `out/churn-model-<version>/` and its `.tar.gz`.

    `training` (the prepared train and test splits) adds the reference profile.

    Returns the folder. Raises `BelowFloorError` before writing anything if the
    metrics miss the floor in `params` (unless `enforce_floor` is off, as for a
    local `churn serve`).
    """
    check_version(version)
    if enforce_floor:
        check_floor(metrics, params)
    if not model_file.is_file():
        raise PackageError(f"{model_file}: no model; run `make repro` first")
    folder = out / f"{NAME}-{version}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copyfile(model_file, folder / MODEL)
    digest = model_io.sha256(folder / MODEL)
    (folder / f"{MODEL}.sha256").write_text(f"{digest}  {MODEL}\n")
    limit = schema.max_batch(params)
    try:
        inputs = lineage.identity(lock)
    except lineage.LineageError:
        inputs = None
    info = manifest(
        version=version,
        sha256=digest,
        inputs=inputs,
        params=params,
        metrics=metrics,
        data=data_version(lock, validation),
        commit=commit,
        max_batch=limit,
    )
    model = model_io.load(folder / MODEL, expected_sha256=digest)
    _write_json(folder / MANIFEST, info)
    _write_json(folder / METRICS, metrics)
    _write_json(folder / SCHEMA, schema.json_schema(limit))
    _write_json(folder / EXAMPLES, examples(model, customers))
    if training is not None:
        _write_json(folder / reference.FILE, reference.build(model, *training, params))
    if cards:
        for card in cards:
            shutil.copyfile(card, folder / card.name)
    else:
        (folder / CARD_MD).write_text(card_markdown(info))
        _write_json(folder / CARD_JSON, info)
    archive(folder)
    log.info("packaged %s %s (sha256 %s) in %s", NAME, version, digest, folder)
    return folder


def archive(folder: Path) -> Path:
    """`folder` as a reproducible `.tar.gz` beside it: same files, same bytes."""
    target = folder.with_name(folder.name + ".tar.gz")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.iterdir()):
            entry = tar.gettarinfo(str(path), arcname=f"{folder.name}/{path.name}")
            entry.mtime, entry.uid, entry.gid, entry.uname, entry.gname = (
                0,
                0,
                0,
                "",
                "",
            )
            entry.mode = 0o644
            with path.open("rb") as fh:
                tar.addfile(entry, fh)
    target.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    return target


# --- loading ----------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """A loaded, verified package: the model and the package's JSON documents."""

    source: Path
    manifest: dict[str, Any]
    model: Pipeline
    documents: dict[str, Any]

    @property
    def version(self) -> str:
        """The model version, e.g. 1.2.0."""
        return self.manifest["version"]

    def read_json(self, name: str) -> Any:
        """One of the package's JSON files, e.g. `examples.json`."""
        return self.documents[name]

    @property
    def profile(self) -> dict[str, Any] | None:
        """The reference profile (`profile.json`); None if the package has none."""
        return self.documents.get(reference.FILE)


def unpack(archive_file: Path, dest: Path) -> Path:
    """Extract a package archive into `dest`; return the package folder."""
    with tarfile.open(archive_file, "r:gz") as tar:
        names = {Path(m.name).parts[0] for m in tar.getmembers()}
        if len(names) != 1:
            raise PackageError(f"{archive_file}: expected one top folder, got {names}")
        # The "data" filter refuses links, devices and paths outside `dest`.
        tar.extractall(dest, filter="data")
    return dest / names.pop()


def load(path: Path) -> Package:
    """Load a package folder or `.tar.gz`, verifying the model's SHA-256 first.

    A model file that does not hash to the value in `manifest.json` and
    `model.skops.sha256` is refused with `model_io.ModelIntegrityError`.
    """
    if path.is_file() and path.name.endswith(".tar.gz"):
        with tempfile.TemporaryDirectory(prefix="churn-model-") as tmp:
            return _load_folder(unpack(path, Path(tmp)), source=path)
    return _load_folder(path, source=path)


def _load_folder(folder: Path, *, source: Path) -> Package:
    for name in (MANIFEST, MODEL, f"{MODEL}.sha256"):
        if not (folder / name).is_file():
            raise PackageError(f"{source}: not a model package ({name} is missing)")
    info = json.loads((folder / MANIFEST).read_text())
    recorded = (folder / f"{MODEL}.sha256").read_text().split()[0]
    if recorded != info["model"]["sha256"]:
        raise model_io.ModelIntegrityError(
            f"{source}: {MODEL}.sha256 says {recorded} but {MANIFEST} says "
            f"{info['model']['sha256']}; the package was altered, so it is not loaded"
        )
    model = model_io.load(folder / MODEL, expected_sha256=recorded)
    documents = {
        p.name: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))
    }
    log.info("loaded %s %s from %s", info["name"], info["version"], source)
    return Package(source, info, model, documents)


# --- entry point ------------------------------------------------------------------


def git(*args: str) -> str | None:
    """Output of a git command in the project root, or None outside a checkout."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=config.ROOT, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return proc.stdout.strip()


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def build_from_workspace(
    out: Path, version: str, params: dict[str, Any], *, enforce_floor: bool = True
) -> Path:
    """Package the model the pipeline produced in this checkout."""
    # The metrics are committed, so a model below the floor is refused even before
    # the pipeline has produced anything else.
    metrics = _read_json(config.MODEL_METRICS)
    if enforce_floor:
        check_floor(metrics, params)
    for needed in (
        config.MODEL_FILE,
        config.MODEL_METRICS,
        config.RAW_DATA,
        config.TRAIN_DATA,
        config.TEST_DATA,
    ):
        if not needed.is_file():
            raise PackageError(f"{needed}: not found; run `make repro` first")
    lock_file = config.LOCK_FILE
    lock = yaml.safe_load(lock_file.read_text()) if lock_file.is_file() else {}
    return build(
        out,
        version=version,
        model_file=config.MODEL_FILE,
        params=params,
        metrics=metrics,
        lock=lock,
        validation=_read_json(config.VALIDATION_METRICS),
        customers=pick_examples(
            pd.read_parquet(config.RAW_DATA),
            pd.read_parquet(config.TEST_DATA, columns=[contract.ID])[contract.ID],
            EXAMPLE_ROWS,
        ),
        cards=find_card(config.ROOT),
        commit=git("rev-parse", "HEAD"),
        enforce_floor=enforce_floor,
        training=(
            pd.read_parquet(config.TRAIN_DATA),
            pd.read_parquet(config.TEST_DATA),
        ),
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: build the package (or print the next version) and exit."""
    parser = argparse.ArgumentParser(prog="churn package", description=__doc__)
    parser.add_argument("--version", default=DEV_VERSION, help="e.g. 1.2.0")
    parser.add_argument("--out", type=Path, default=config.DIST_DIR)
    parser.add_argument(
        "--floor",
        type=float,
        help="absolute floor on the gate metric (default: gate.floor in params.yaml)",
    )
    parser.add_argument(
        "--release-plan",
        action="store_true",
        help="print version=, tag=, inputs=, sha256= and changed= lines for the "
        "release workflow (from the churn-model@v* tags and dvc.lock), and exit",
    )
    parser.add_argument("--bump", choices=["major", "minor", "patch"], default="minor")
    args = parser.parse_args(argv)
    config.setup_logging()
    if args.release_plan:
        if not config.MODEL_FILE.is_file():
            log.error("%s: no model; run `make repro` first", config.MODEL_FILE)
            return 1
        names = (git("tag", "--list", f"{NAME}@v*") or "").split()
        tags = {t: git("tag", "--list", "--format=%(contents)", t) or "" for t in names}
        try:
            inputs = lineage.identity(lineage.read_lock(config.LOCK_FILE))
        except lineage.LineageError as exc:
            log.error("cannot plan the release: %s", exc)
            return 1
        plan = release_plan(tags, inputs, model_io.sha256(config.MODEL_FILE), args.bump)
        sys.stdout.write("".join(f"{k}={v}\n" for k, v in plan.items()))
        return 0
    params = config.load_params()
    if args.floor is not None:
        params["gate"] = {**params["gate"], "floor": args.floor}
    try:
        folder = build_from_workspace(args.out, args.version, params)
    except PackageError as exc:
        log.error("%s", exc)
        return 1
    sys.stdout.write(f"{folder}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
