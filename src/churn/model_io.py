"""Saving and loading the fitted model with skops, which never unpickles code."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import skops.io as sio
from sklearn.pipeline import Pipeline


class UntrustedModelError(ValueError):
    """A model file that holds types outside the allowlist."""


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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(canonical(sio.dumps(model)))


def load(path: Path) -> Pipeline:
    """Load a model written by `save`, refusing types outside the allowlist."""
    untrusted = set(sio.get_untrusted_types(file=path)) - TRUSTED_TYPES
    if untrusted:
        raise UntrustedModelError(
            f"{path}: refusing to load untrusted types {sorted(untrusted)}"
        )
    return sio.load(path, trusted=sorted(TRUSTED_TYPES))
