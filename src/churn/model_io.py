"""Saving and loading the fitted model with skops, which never unpickles code."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

# skops (and scikit-learn) is imported where a model is saved or loaded: the
# commands that import this module answer `--help` without loading it.
if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


class UntrustedModelError(ValueError):
    """A model file that holds types outside the allowlist."""


class ModelIntegrityError(ValueError):
    """A model file whose SHA-256 is not the one recorded for it."""


#: Types that skops does not trust by default but that our own pipelines contain.
#: Anything else in a model file is refused rather than loaded.
TRUSTED_TYPES = frozenset(
    {"sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"}
)


_ID = re.compile(rb'"__id__": (\d+)|"(\d+)\.npy"')


def canonical(blob: bytes) -> bytes:
    """The same skops archive, byte-for-byte reproducible.

    skops names objects and array files by `id()`, which differs between runs, and
    stamps zip entries with the current time. Renumbering the ids in order of first
    appearance and fixing the timestamps makes the same model give the same bytes,
    so `dvc.lock` records the same hash for the same training run.
    """
    src = zipfile.ZipFile(io.BytesIO(blob))
    schema = src.read("schema.json")
    ids: dict[bytes, bytes] = {}
    for match in _ID.finditer(schema):
        ids.setdefault(match.group(1) or match.group(2), str(len(ids) + 1).encode())

    def renumber(match: re.Match[bytes]) -> bytes:
        if match.group(1):
            return b'"__id__": ' + ids[match.group(1)]
        return b'"' + ids[match.group(2)] + b'.npy"'

    entries = {}
    for name in src.namelist():
        if name == "schema.json":
            entries[name] = _ID.sub(renumber, schema)
        elif name.endswith(".npy"):
            number = ids[name.removesuffix(".npy").encode()].decode()
            entries[f"{number}.npy"] = src.read(name)
        else:
            entries[name] = src.read(name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for name in sorted(entries):
            entry = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            entry.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(entry, entries[name])
    return out.getvalue()


def save(model: Pipeline, path: Path) -> None:
    """Write `model` to `path` in the skops format, reproducibly."""
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(canonical(sio.dumps(model)))


def sha256(path: Path) -> str:
    """The SHA-256 of the file at `path`, as lowercase hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify(blob: bytes, expected: str, *, source: Path | str) -> None:
    """Raise `ModelIntegrityError` unless `blob`, read from `source`, has that hash."""
    actual = hashlib.sha256(blob).hexdigest()
    if actual != expected.strip().lower():
        raise ModelIntegrityError(
            f"{source}: SHA-256 is {actual} but {expected.strip()} was recorded for "
            "it; the file changed after it was packaged, so it is not loaded"
        )


def _load_blob(blob: bytes, source: Path | str) -> Pipeline:
    import skops.io as sio

    untrusted = set(sio.get_untrusted_types(data=blob)) - TRUSTED_TYPES
    if untrusted:
        raise UntrustedModelError(
            f"{source}: refusing to load untrusted types {sorted(untrusted)}"
        )
    return sio.loads(blob, trusted=sorted(TRUSTED_TYPES))


def load(path: Path, *, expected_sha256: str | None = None) -> Pipeline:
    """Load a model written by `save`, refusing types outside the allowlist.

    With `expected_sha256`, the bytes are hashed before skops reads any of them, and
    a file that does not match is refused. The same bytes that were hashed are the
    ones loaded, so the file cannot change in between.
    """
    blob = path.read_bytes()
    if expected_sha256 is not None:
        verify(blob, expected_sha256, source=path)
    return _load_blob(blob, path)
