"""The model package: what a release ships and what the service loads.

`churn package --model-version 1.2.0` checks the release floor
(`churn.delivery.release`), then writes `dist/churn-model-1.2.0/` and the same files
as `.tar.gz` (`churn.delivery.archive`): `model.skops` and its `model.skops.sha256`,
`manifest.json`, `metrics.json`, `request.schema.json`, `examples.json` (a real
request and the probabilities the model gave it) and `model_card.md`/`.json`.

The card has one writer, `churn.pipeline.modelcard`. A package ships the files
`churn model-card` left in `reports/` (`make repro` writes them); where they are
absent, as after a bare `dvc repro`, it renders the card with modelcard's own
`collect` and `write`, from the same `dvc.lock`, params, metrics, validation and
drift files. So every package has a card, and there is no second card format.

`load` refuses, in one `PackageError` line naming the file and the reason, what it
cannot vouch for (`churn.delivery.contents`, `churn.delivery.archive`); a build
ends by loading what it wrote. Every JSON file is strict: no `NaN` is packaged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from churn import config, contract, lineage, model_io
from churn.delivery import archive, contents, reference, release, schema
from churn.delivery.contents import EXAMPLES, MANIFEST, MODEL, PackageError
from churn.pipeline import modelcard

# pandas and the samples module are imported where they are used, so that
# `churn package --help` and the commands importing this module answer at once.
if TYPE_CHECKING:
    import pandas as pd
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)

DEV_VERSION = "0.0.0-dev"


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
    card: list[Path] | dict[str, Any],
    commit: str | None = None,
    enforce_floor: bool = True,
    training: tuple[pd.DataFrame, pd.DataFrame] | None = None,
) -> Path:
    """Write the package folder `out/churn-model-<version>/` and its `.tar.gz`.

    `card` is the pipeline's card files to ship, or a card (`modelcard.build`) to
    render; `training` (the prepared train and test splits) adds the reference
    profile `churn monitor` judges traffic by. Returns the folder. Raises
    `release.ReleaseError` before writing anything if the metrics miss the floor
    in `params` (unless `enforce_floor` is off, as for a local `churn serve`), and
    `PackageError` for anything that would make a package its own `load` refuses.
    """
    from churn.delivery import samples

    release.check_version(version)
    if enforce_floor:
        release.check_floor(metrics, params)
    if not model_file.is_file():
        raise PackageError(f"{model_file}: no model; run `make repro` first")
    digest = model_io.sha256(model_file)
    limit = schema.max_batch(params)
    info = contents.describe(
        version=version,
        sha256=digest,
        lock=lock,
        validation=validation,
        params=params,
        metrics=metrics,
        commit=commit,
        max_batch=limit,
    )
    model = model_io.load(model_file, expected_sha256=digest)
    # Strict JSON before anything is written: a NaN anywhere packages nothing.
    texts = {
        name: contents.dumps(data, name)
        for name, data in {
            MANIFEST: info,
            contents.METRICS: metrics,
            contents.SCHEMA: schema.json_schema(limit),
            EXAMPLES: samples.examples(model, customers),
            **(
                {reference.FILE: reference.build(model, *training, params)}
                if training
                else {}
            ),
        }.items()
    }
    folder = out / f"{release.NAME}-{version}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    try:
        shutil.copyfile(model_file, folder / MODEL)
        (folder / contents.MODEL_SHA).write_text(f"{digest}  {MODEL}\n")
        for name, text in texts.items():
            (folder / name).write_text(text)
        if isinstance(card, dict):
            modelcard.write(
                card, folder / contents.CARD_MD, folder / contents.CARD_JSON
            )
        else:
            for path in card:
                shutil.copyfile(path, folder / path.name)
        _load_folder(folder, source=folder)
    except BaseException:
        shutil.rmtree(folder)
        raise
    archive.write(folder)
    log.info("packaged %s %s (sha256 %s) in %s", release.NAME, version, digest, folder)
    return folder


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


def load(path: Path) -> Package:
    """Load a package folder or `.tar.gz`, verifying the model's SHA-256 first.

    Anything wrong is one `PackageError` line naming the file and the reason; a
    model file that does not hash to the recorded value is a
    `contents.PackageIntegrityError` (also a `model_io.ModelIntegrityError`).
    """
    if path.is_file() and path.name.endswith(".tar.gz"):
        with tempfile.TemporaryDirectory(prefix="churn-model-") as tmp:
            folder = archive.unpack(path, Path(tmp))
            return _load_folder(folder, source=path)
    if not path.is_dir():
        raise PackageError(f"{path}: not a package folder or .tar.gz")
    return _load_folder(path, source=path)


def _load_folder(folder: Path, *, source: Path) -> Package:
    found = contents.files(folder, source)
    docs = contents.documents(found, source)
    info = contents.check_manifest(docs[MANIFEST], source)
    recorded = contents.recorded_sha256(found, info, source)
    model_path = found[MODEL]
    try:
        model = model_io.load(model_path, expected_sha256=recorded)
    except model_io.ModelIntegrityError as exc:
        reason = str(exc).removeprefix(f"{model_path}: ")
        raise contents.PackageIntegrityError(f"{source}: {MODEL}: {reason}") from None
    except model_io.UntrustedModelError as exc:
        reason = str(exc).removeprefix(f"{model_path}: ")
        raise PackageError(f"{source}: {MODEL}: {reason}") from None
    except Exception as exc:  # skops raises many kinds for a file it cannot read
        raise PackageError(
            f"{source}: {MODEL}: not a skops model file ({type(exc).__name__}: {exc})"
        ) from None
    log.info("loaded %s %s from %s", info["name"], info["version"], source)
    return Package(source, info, model, docs)


# --- entry point ------------------------------------------------------------------


def build_from_workspace(
    out: Path, version: str, params: dict[str, Any], *, enforce_floor: bool = True
) -> Path:
    """Package the model the pipeline produced in this checkout."""
    import pandas as pd

    from churn.delivery import samples

    # The metrics are committed, so a model below the floor is refused even before
    # the pipeline has produced anything else.
    needed = (config.MODEL_FILE, config.LOCK_FILE, config.RAW_DATA, config.TRAIN_DATA)
    needed += (config.TEST_DATA,)
    try:
        metrics = lineage.read_json(config.MODEL_METRICS)
        if enforce_floor:
            release.check_floor(metrics, params)
        for path in (config.MODEL_METRICS, *needed):
            if not path.is_file():
                raise PackageError(f"{path}: not found; run `make repro` first")
        lock = lineage.read_lock(config.LOCK_FILE)
        validation = lineage.read_json(config.VALIDATION_METRICS) or {}
    except lineage.LineageError as exc:
        raise PackageError(str(exc)) from None
    return build(
        out,
        version=version,
        model_file=config.MODEL_FILE,
        params=params,
        metrics=metrics,
        lock=lock,
        validation=validation,
        customers=samples.pick_examples(
            pd.read_parquet(config.RAW_DATA),
            pd.read_parquet(config.TEST_DATA, columns=[contract.ID])[contract.ID],
            samples.EXAMPLE_ROWS,
        ),
        card=modelcard.written() or modelcard.collect(dt.datetime.now(dt.UTC)),
        commit=(lineage.git("rev-parse", "HEAD") or "").strip() or None,
        enforce_floor=enforce_floor,
        training=(
            pd.read_parquet(config.TRAIN_DATA),
            pd.read_parquet(config.TEST_DATA),
        ),
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: build the package (or print the release plan) and exit."""
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn package",
        description=__doc__,
    )
    parser.add_argument(
        "--model-version",
        default=DEV_VERSION,
        help="the version of the model package, e.g. 1.2.0",
    )
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
    try:
        if args.release_plan:
            sys.stdout.write(release.plan_lines(release.plan_checkout(args.bump)))
            return 0
        params = config.load_params()
        if args.floor is not None:
            params["gate"] = {**params["gate"], "floor": args.floor}
        folder = build_from_workspace(args.out, args.model_version, params)
    except (PackageError, release.ReleaseError) as exc:
        log.error("%s", exc)
        return 1
    sys.stdout.write(f"{folder}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
