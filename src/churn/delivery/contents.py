"""What a model package holds: its files, its manifest, and the check of both.

`describe` writes the manifest a package ships; `check_manifest` is what loading
holds a manifest to: a JSON object with every field present, of its type, and
agreeing with the package (name, model file, format, tag, features). JSON here is
strict both ways: no `NaN` or `Infinity` is written or read.
"""

from __future__ import annotations

import json
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from churn import contract, lineage, model_io
from churn.delivery import release

MODEL = "model.skops"
MODEL_SHA = f"{MODEL}.sha256"
MANIFEST = "manifest.json"
METRICS = "metrics.json"
SCHEMA = "request.schema.json"
EXAMPLES = "examples.json"
CARD_MD = "model_card.md"
CARD_JSON = "model_card.json"
FORMAT = "skops"
#: Files every package holds; the card is optional for a loader.
REQUIRED = (MANIFEST, MODEL, MODEL_SHA, METRICS, SCHEMA, EXAMPLES)
#: Most bytes a package may hold, in a folder or expanded from an archive.
MAX_BYTES = 200 * 1024 * 1024

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_NUMBER = (int, float)
#: Each manifest field and the JSON types it may hold.
_FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "version": (str,),
    "tag": (str,),
    "commit": (str, type(None)),
    "model": (dict,),
    "threshold": _NUMBER,
    "metrics": (dict,),
    "data": (dict,),
    "request_schema": (str,),
    "max_batch": (int,),
    "features": (list,),
    "versions": (dict,),
}
_MODEL_FIELDS: dict[str, tuple[type, ...]] = {
    "file": (str,),
    "format": (str,),
    "sha256": (str,),
    "inputs": (str, type(None)),
    "estimator": (str,),
    "hyperparameters": (dict,),
}


class PackageError(ValueError):
    """A package that cannot be built or loaded, and why (one line)."""


class PackageIntegrityError(PackageError, model_io.ModelIntegrityError):
    """A package whose model file is not the one its SHA-256 records."""


def dumps(data: Any, name: str) -> str:
    """`data` as strict indented JSON; `PackageError` naming `name` for a NaN."""
    try:
        return json.dumps(data, indent=2, allow_nan=False) + "\n"
    except ValueError as exc:
        raise PackageError(
            f"{name}: not strict JSON ({exc}); nothing packaged"
        ) from None


def loads(text: str) -> Any:
    """Strict JSON: `ValueError` for `NaN`, `Infinity` or anything not JSON."""

    def refuse(word: str) -> Any:
        raise ValueError(f"{word} is not JSON")

    return json.loads(text, parse_constant=refuse)


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


def describe(
    *,
    version: str,
    sha256: str,
    lock: dict[str, Any],
    validation: dict[str, Any],
    params: dict[str, Any],
    metrics: dict[str, float],
    commit: str | None,
    max_batch: int,
) -> dict[str, Any]:
    """The package's manifest: everything `GET /model` reports."""
    try:
        inputs = lineage.identity(lock)
    except lineage.LineageError:
        inputs = None
    train = params.get("train") or {}
    estimator = train.get("estimator")
    return {
        "name": release.NAME,
        "version": version,
        "tag": release.tag_for(version),
        "commit": commit,
        "model": {
            "file": MODEL,
            "format": FORMAT,
            "sha256": sha256,
            # What made the model (`churn.lineage`): the same on every machine.
            "inputs": inputs,
            "estimator": estimator,
            "hyperparameters": train.get(estimator) or {},
        },
        "threshold": (params.get("evaluate") or {}).get("threshold", 0.5),
        "metrics": metrics,
        "data": data_version(lock, validation),
        "request_schema": SCHEMA,
        "max_batch": max_batch,
        "features": contract.feature_names(),
        "versions": {
            "python": platform.python_version(),
            **{pkg: metadata.version(pkg) for pkg in ("scikit-learn", "skops")},
        },
    }


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _typed(
    table: dict[str, Any], fields: dict[str, tuple[type, ...]], prefix: str = ""
) -> None:
    for field, types in fields.items():
        if field not in table:
            raise PackageError(f"{MANIFEST} has no {prefix + field!r}")
        value = table[field]
        if isinstance(value, bool) or not isinstance(value, types):
            names = " or ".join(
                "null" if t is type(None) else t.__name__ for t in types
            )
            raise PackageError(
                f"{MANIFEST} {prefix + field!r} is {_short(value)}, not {names}"
            )


def check_manifest(info: Any, source: Path) -> dict[str, Any]:
    """`info` if it is a manifest this code can serve, else a `PackageError`."""
    try:
        return _checked(info)
    except PackageError as exc:
        raise PackageError(f"{source}: {exc}") from None


def _checked(info: Any) -> dict[str, Any]:
    if not isinstance(info, dict):
        raise PackageError(f"{MANIFEST} is {type(info).__name__}, not an object")
    _typed(info, _FIELDS)
    _typed(info["model"], _MODEL_FIELDS, "model.")
    try:
        release.check_version(info["version"])
    except release.ReleaseError as exc:
        raise PackageError(f"{MANIFEST} {exc}") from None
    model = info["model"]
    expected = {
        "name": (info["name"], release.NAME),
        "tag": (info["tag"], release.tag_for(info["version"])),
        "request_schema": (info["request_schema"], SCHEMA),
        "model.file": (model["file"], MODEL),
        "model.format": (model["format"], FORMAT),
        "features": (info["features"], contract.feature_names()),
    }
    for field, (value, wanted) in expected.items():
        if value != wanted:
            raise PackageError(
                f"{MANIFEST} {field} is {_short(value)} but this package is "
                f"{_short(wanted)}"
            )
    if not _HEX64.match(model["sha256"]):
        raise PackageError(f"{MANIFEST} model.sha256 is not 64 lowercase hex digits")
    problem = release.unjudgeable("threshold", info["threshold"])
    if problem is None and info["max_batch"] < 1:
        problem = f"max_batch is {info['max_batch']}, not a positive count"
    for name, value in info["metrics"].items():
        problem = problem or release.unjudgeable(name, value)
    if problem:
        raise PackageError(f"{MANIFEST} {problem}")
    return info


def files(folder: Path, source: Path) -> dict[str, Path]:
    """The package's regular files by name, none a link out of it, none too big."""
    root = folder.resolve()
    found: dict[str, Path] = {}
    total = 0
    for entry in sorted(folder.iterdir()):
        real = entry.resolve()
        if entry.is_symlink() and not real.is_relative_to(root):
            raise PackageError(f"{source}: {entry.name} is a link out of the package")
        if real.is_file():
            total += real.stat().st_size
            found[entry.name] = entry
    if total > MAX_BYTES:
        raise PackageError(f"{source}: holds more than {MAX_BYTES} bytes")
    for name in REQUIRED:
        if name not in found:
            raise PackageError(f"{source}: not a model package ({name} is missing)")
    return found


def documents(found: dict[str, Path], source: Path) -> dict[str, Any]:
    """Every JSON file of the package at `source`, parsed strictly."""
    parsed = {}
    for name in (n for n in found if n.endswith(".json")):
        try:
            parsed[name] = loads(found[name].read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise PackageError(f"{source}: {name} is not strict JSON ({exc})") from None
    return parsed


def recorded_sha256(found: dict[str, Path], info: dict[str, Any], source: Path) -> str:
    """The model's SHA-256, once `model.skops.sha256` and the manifest agree on it."""
    recorded, _, named = found[MODEL_SHA].read_text().strip().partition("  ")
    if named != MODEL or recorded != info["model"]["sha256"]:
        raise PackageIntegrityError(
            f"{source}: {MODEL_SHA} says {recorded or '(nothing)'} for "
            f"{named or '(no file)'} but {MANIFEST} says {info['model']['sha256']} "
            f"for {MODEL}; the package was altered, so it is not loaded"
        )
    return recorded


def public_info(info: dict[str, Any]) -> dict[str, Any]:
    """What `GET /model` reports of a checked manifest `info`."""
    return {
        "name": info["name"],
        "version": info["version"],
        "tag": info["tag"],
        "commit": info["commit"],
        "sha256": info["model"]["sha256"],
        "estimator": info["model"]["estimator"],
        "hyperparameters": info["model"]["hyperparameters"],
        "threshold": info["threshold"],
        "metrics": info["metrics"],
        "data": info["data"],
        "max_batch": info["max_batch"],
        "versions": info["versions"],
    }
