"""Loading refuses every malformed package with one line naming the file and why.

Each case is built in `tmp_path` from one real package: links out of a folder,
archives that are unsafe or expand past the limit, manifests that are not the
package's, model files that are no skops file or hold untrusted types. A good
package still loads and serves its examples.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import operator
import shutil
import struct
import tarfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from churn import contract, model_io
from churn.delivery import archive, contents, package, predict, serve
from conftest import SOURCE

NAME = "churn-model-1.0.0"


def _copy(built: Path, tmp_path: Path) -> Path:
    dest = tmp_path / NAME
    shutil.copytree(built, dest)
    return dest


def _refused(path: Path, *words: str) -> package.PackageError:
    """The one-line `PackageError` loading `path` gives; it names `path`."""
    with pytest.raises(package.PackageError) as info:
        package.load(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    for word in words:
        assert word in message, message
    return info.value


def _with_model(folder: Path, blob: bytes) -> None:
    """`blob` as the model, its hash recorded everywhere, as a forger would."""
    (folder / "model.skops").write_bytes(blob)
    digest = model_io.sha256(folder / "model.skops")
    (folder / "model.skops.sha256").write_text(f"{digest}  model.skops\n")
    info = json.loads((folder / "manifest.json").read_text())
    info["model"]["sha256"] = digest
    (folder / "manifest.json").write_text(json.dumps(info))


# --- folders ----------------------------------------------------------------------


@pytest.mark.parametrize("member", ["model.skops", "manifest.json", "examples.json"])
def test_a_link_out_of_the_folder_is_refused(
    built: Path, tmp_path: Path, member: str
) -> None:
    copy = _copy(built, tmp_path)
    # The same bytes outside: every hash matches, only the place is wrong.
    outside = tmp_path / "elsewhere" / member
    outside.parent.mkdir()
    shutil.copyfile(copy / member, outside)
    (copy / member).unlink()
    (copy / member).symlink_to(outside)
    _refused(copy, member, "link out of the package")


def test_a_link_inside_the_folder_is_followed(built: Path, tmp_path: Path) -> None:
    copy = _copy(built, tmp_path)
    (copy / "model.bytes").write_bytes((copy / "model.skops").read_bytes())
    (copy / "model.skops").unlink()
    (copy / "model.skops").symlink_to("model.bytes")
    assert package.load(copy).version == "1.0.0"


def test_not_a_folder_nor_an_archive(tmp_path: Path) -> None:
    _refused(tmp_path / "missing", "not a package folder or .tar.gz")
    (tmp_path / "model.zip").write_bytes(b"PK")
    _refused(tmp_path / "model.zip", "not a package folder or .tar.gz")


def test_a_folder_past_the_size_limit_is_refused(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = _copy(built, tmp_path)
    monkeypatch.setattr(contents, "MAX_BYTES", 1000)
    _refused(copy, "more than 1000 bytes")


# --- the manifest -----------------------------------------------------------------


def _set(*keys: str, value: Any) -> Callable[[dict], Any]:
    def change(info: dict) -> dict:
        target = info
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
        return info

    return change


def _drop(*keys: str) -> Callable[[dict], Any]:
    def change(info: dict) -> dict:
        target = info
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]
        return info

    return change


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda info: [info], ["manifest.json is list, not an object"]),
        (lambda info: "churn-model", ["manifest.json is str, not an object"]),
        (_drop("model"), ["manifest.json has no 'model'"]),
        (_drop("model", "sha256"), ["manifest.json has no 'model.sha256'"]),
        (_drop("version"), ["has no 'version'"]),
        (_set("max_batch", value="10"), ["'max_batch' is '10', not int"]),
        (_set("max_batch", value=True), ["'max_batch' is True, not int"]),
        (_set("max_batch", value=0), ["max_batch is 0, not a positive count"]),
        (_set("metrics", value=[0.8]), ["'metrics' is [0.8], not dict"]),
        (_set("model", value="model.skops"), ["'model' is 'model.skops', not dict"]),
        (_set("name", value="other-model"), ["name is 'other-model'", "churn-model"]),
        (_set("model", "file", value="../model.pkl"), ["model.file is '../model.pkl'"]),
        (_set("model", "format", value="pickle"), ["model.format is 'pickle'"]),
        (_set("tag", value="churn-model@v9.9.9"), ["tag is 'churn-model@v9.9.9'"]),
        (_set("version", value="latest"), ["version 'latest' is not semantic"]),
        (_set("features", value=["tenure"]), ["features is ['tenure']"]),
        (_set("request_schema", value="x.json"), ["request_schema is 'x.json'"]),
        (_set("threshold", value=7), ["threshold is 7, not a finite number in [0, 1]"]),
        (_set("metrics", "roc_auc", value=1.5), ["roc_auc is 1.5, not a finite"]),
        (_set("metrics", "roc_auc", value="0.9"), ["roc_auc is '0.9', not a number"]),
        (_set("model", "sha256", value="AB" * 32), ["not 64 lowercase hex digits"]),
    ],
)
def test_a_manifest_that_is_not_the_package_s_is_refused(
    built: Path, tmp_path: Path, change: Callable[[dict], Any], words: list[str]
) -> None:
    copy = _copy(built, tmp_path)
    info = json.loads((copy / "manifest.json").read_text())
    (copy / "manifest.json").write_text(json.dumps(change(info)))
    _refused(copy, "manifest.json", *words)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_a_manifest_with_a_bare_nan_is_not_json(
    built: Path, tmp_path: Path, constant: str
) -> None:
    copy = _copy(built, tmp_path)
    text = (copy / "manifest.json").read_text()
    value = json.loads(text)["metrics"]["roc_auc"]
    (copy / "manifest.json").write_text(
        text.replace(f'"roc_auc": {value}', f'"roc_auc": {constant}', 1)
    )
    _refused(copy, "manifest.json is not strict JSON", f"{constant} is not JSON")


def test_a_manifest_that_is_not_json_at_all(built: Path, tmp_path: Path) -> None:
    copy = _copy(built, tmp_path)
    (copy / "manifest.json").write_text("{'model': ")
    _refused(copy, "manifest.json is not strict JSON")


@pytest.mark.parametrize("name", ["examples.json", "request.schema.json"])
def test_every_required_file_is_there(built: Path, tmp_path: Path, name: str) -> None:
    copy = _copy(built, tmp_path)
    (copy / name).unlink()
    _refused(copy, f"{name} is missing")


@pytest.mark.parametrize("text", ["", "\n", f"{'0' * 64}  other.skops\n"])
def test_a_hash_file_that_names_nothing_usable(
    built: Path, tmp_path: Path, text: str
) -> None:
    copy = _copy(built, tmp_path)
    (copy / "model.skops.sha256").write_text(text)
    refusal = _refused(copy, "model.skops.sha256 says", "not loaded")
    assert isinstance(refusal, model_io.ModelIntegrityError)


# --- the model file ---------------------------------------------------------------


def test_a_tampered_model_is_refused_naming_the_archive(
    built: Path, tmp_path: Path
) -> None:
    copy = _copy(built, tmp_path)
    blob = bytearray((copy / "model.skops").read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (copy / "model.skops").write_bytes(bytes(blob))
    packed = archive.write(copy)
    message = str(_refused(packed, "model.skops: SHA-256 is", "not loaded"))
    # The user's archive is named, not the temporary folder it was unpacked into.
    assert "churn-model-" not in message.replace(str(packed), "")


def test_a_model_that_is_no_zip_is_refused(built: Path, tmp_path: Path) -> None:
    copy = _copy(built, tmp_path)
    _with_model(copy, b"not a zip file at all")
    _refused(copy, "model.skops: not a skops model file", "BadZipFile")


def test_a_zip_that_is_no_skops_model_is_refused(built: Path, tmp_path: Path) -> None:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zipped:
        zipped.writestr("readme.txt", "hello")
    copy = _copy(built, tmp_path)
    _with_model(copy, buffer.getvalue())
    _refused(copy, "model.skops: not a skops model file")


def test_a_model_with_untrusted_types_is_refused(built: Path, tmp_path: Path) -> None:
    copy = _copy(built, tmp_path)
    model_io.save(make_pipeline(FunctionTransformer(operator.neg)), tmp_path / "m")
    _with_model(copy, (tmp_path / "m").read_bytes())
    _refused(copy, "model.skops: refusing to load untrusted types", "_operator.neg")


# --- archives ---------------------------------------------------------------------


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _member(
    name: str, kind: bytes = tarfile.REGTYPE, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def _good_members(built: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [
        (_member(f"{NAME}/{p.name}"), p.read_bytes()) for p in sorted(built.iterdir())
    ]


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (_member(f"/{NAME}/extra.json"), ["has an absolute name"]),
        (_member("/etc/cron.d/evil"), ["has an absolute name"]),
        (_member(f"{NAME}/../evil.json"), ["'..' component"]),
        (_member(f"{NAME}/../../evil.json"), ["'..' component"]),
        (_member(f"{NAME}/./x.json"), ["'.' or '..' component"]),
        (_member(f"{NAME}/passwd", tarfile.SYMTYPE, "/etc/passwd"), ["is a link"]),
        (_member(f"{NAME}/up", tarfile.SYMTYPE, "../../x"), ["is a link"]),
        (_member(f"{NAME}/hard", tarfile.LNKTYPE, "/etc/passwd"), ["is a link"]),
        (_member(f"{NAME}/tty", tarfile.CHRTYPE), ["is a device or FIFO"]),
        (_member(f"{NAME}/disk", tarfile.BLKTYPE), ["is a device or FIFO"]),
        (_member(f"{NAME}/pipe", tarfile.FIFOTYPE), ["is a device or FIFO"]),
        (_member(f"{NAME}/sub/x.json"), ["not a file directly inside"]),
        (_member("stray.json"), ["not a file directly inside"]),
        (_member("other-folder/x.json"), ["expected one top folder"]),
    ],
)
def test_unsafe_members_are_refused_and_nothing_is_written(
    built: Path, tmp_path: Path, bad: tarfile.TarInfo, words: list[str]
) -> None:
    packed = _tar(tmp_path / "bad.tar.gz", [*_good_members(built), (bad, b"{}")])
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(package.PackageError) as info:
        archive.unpack(packed, dest)
    message = str(info.value)
    assert str(packed) in message and "\n" not in message
    assert all(word in message for word in words), message
    assert list(dest.iterdir()) == []
    assert not (tmp_path / "evil.json").exists()
    _refused(packed, *words)


def test_an_archive_that_is_not_one_is_refused(built: Path, tmp_path: Path) -> None:
    (tmp_path / "junk.tar.gz").write_bytes(b"definitely not gzip")
    _refused(tmp_path / "junk.tar.gz", "not a readable .tar.gz")
    whole = built.with_name(built.name + ".tar.gz").read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(whole[: len(whole) // 2])
    _refused(tmp_path / "cut.tar.gz", "not a readable .tar.gz")
    _refused(_tar(tmp_path / "empty.tar.gz", []), "expected one top folder")


def test_too_many_members_are_refused(built: Path, tmp_path: Path) -> None:
    many = [(_member(f"{NAME}/{i}.txt"), b"") for i in range(archive.MAX_MEMBERS)]
    packed = _tar(tmp_path / "many.tar.gz", [*_good_members(built), *many])
    _refused(packed, f"more than {archive.MAX_MEMBERS} members")


def test_unpack_never_writes_over_an_existing_folder(
    built: Path, tmp_path: Path
) -> None:
    packed = built.with_name(built.name + ".tar.gz")
    (tmp_path / NAME).mkdir()
    (tmp_path / NAME / "keep.txt").write_text("mine")
    with pytest.raises(package.PackageError, match="already exists"):
        archive.unpack(packed, tmp_path)
    assert (tmp_path / NAME / "keep.txt").read_text() == "mine"
    assert archive.unpack(packed, tmp_path / "fresh") == tmp_path / "fresh" / NAME


def zero_bomb(path: Path, name: str, size: int, chunk: int = 1 << 20) -> Path:
    """A valid `.tar.gz` whose one member is `size` zero bytes, made in a blink.

    The header is tarfile's own. The zeros after it are deflated one chunk at a
    time with a full flush, so every chunk compresses to the same bytes, written
    again and again: nothing of `size` is ever held or compressed in full.
    """
    header = tarfile.TarInfo(name)
    header.size = size
    head = header.tobuf(format=tarfile.GNU_FORMAT)
    zeros_after = (-size) % tarfile.BLOCKSIZE + 2 * tarfile.BLOCKSIZE
    zeros_after += -(len(head) + size + zeros_after) % tarfile.RECORDSIZE
    total = size + zeros_after
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = bytes(chunk)
    crc = zlib.crc32(head)
    with path.open("wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")
        out.write(deflate.compress(head) + deflate.flush(zlib.Z_FULL_FLUSH))
        repeated = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
        count, rest = divmod(total, chunk)
        for _ in range(count):
            out.write(repeated)
            crc = zlib.crc32(block, crc)
        out.write(deflate.compress(bytes(rest)) + deflate.flush())
        crc = zlib.crc32(bytes(rest), crc)
        out.write(struct.pack("<II", crc, (len(head) + total) & 0xFFFFFFFF))
    return path


def _disk_use(folder: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def test_a_1_gib_bomb_is_refused_from_its_header(tmp_path: Path) -> None:
    bomb = zero_bomb(tmp_path / "bomb.tar.gz", f"{NAME}/model.skops", 1 << 30)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    with tarfile.open(bomb) as tar:  # a real archive, as tarfile reads it
        assert tar.next().size == 1 << 30
    dest = tmp_path / "dest"
    dest.mkdir()
    started = time.perf_counter()
    with pytest.raises(package.PackageError, match="refused before extracting"):
        archive.unpack(bomb, dest)
    # Inflating the whole member takes seconds; its header alone, milliseconds.
    assert time.perf_counter() - started < 2.0
    assert list(dest.iterdir()) == []
    _refused(bomb, f"expands past {archive.MAX_BYTES} bytes")


def test_extraction_itself_stops_at_the_limit(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Were the header check ever skipped, extraction would still stop at the limit.
    def headers_only(tar: tarfile.TarFile, *_: Any) -> list[tarfile.TarInfo]:
        return list(tar)

    monkeypatch.setattr(archive, "check_members", headers_only)
    monkeypatch.setattr(archive, "_remove", lambda folder: None)
    big = [(_member(f"{NAME}/part{i}.bin"), bytes(600_000)) for i in range(5)]
    packed = _tar(tmp_path / "big.tar.gz", big)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(package.PackageError, match="extraction stopped"):
        archive.unpack(packed, dest, max_bytes=1_000_000)
    assert sorted(p.name for p in (dest / NAME).iterdir()) == ["part0.bin"]
    assert _disk_use(dest) <= 1_000_000


# --- the commands and the good package --------------------------------------------


def _bad_packages(built: Path, tmp_path: Path) -> list[Path]:
    linked = _copy(built, tmp_path / "linked")
    outside = tmp_path / "model.skops"
    shutil.copyfile(linked / "model.skops", outside)
    (linked / "model.skops").unlink()
    (linked / "model.skops").symlink_to(outside)
    no_model = _copy(built, tmp_path / "no-model")
    info = json.loads((no_model / "manifest.json").read_text())
    del info["model"]
    (no_model / "manifest.json").write_text(json.dumps(info))
    no_zip = _copy(built, tmp_path / "no-zip")
    _with_model(no_zip, b"junk")
    (tmp_path / "junk.tar.gz").write_bytes(b"junk")
    bomb = zero_bomb(tmp_path / "bomb.tar.gz", f"{NAME}/model.skops", 1 << 30)
    return [linked, no_model, no_zip, tmp_path / "junk.tar.gz", bomb]


def _one_error_line(caplog: pytest.LogCaptureFixture, path: Path) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    message = errors[0].getMessage()
    assert "\n" not in message and str(path) in message
    assert "Traceback" not in caplog.text


def test_serve_and_predict_refuse_a_bad_package_in_one_line(
    built: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    customers = pd.read_csv(SOURCE, dtype=str, keep_default_na=False).head(3)
    source = tmp_path / "in.csv"
    customers.to_csv(source, index=False)
    for bad in _bad_packages(built, tmp_path):
        caplog.clear()
        with caplog.at_level(logging.ERROR):
            assert serve.main(["--package", str(bad), "--port", "0"]) == 1
        _one_error_line(caplog, bad)
        caplog.clear()
        out = tmp_path / "scored.csv"
        with caplog.at_level(logging.ERROR):
            code = predict.main(
                ["--input", str(source), "--output", str(out), "--package", str(bad)]
            )
        assert code == 1
        _one_error_line(caplog, bad)
        assert not out.exists()


def _post(app: Any, body: dict) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await c.post("/predict", json=body)

    return asyncio.run(go())


def test_a_good_package_loads_and_serves_its_examples(built: Path) -> None:
    for path in (built, built.with_name(built.name + ".tar.gz")):
        pkg = package.load(path)
        assert contents.loads((built / "manifest.json").read_text()) == pkg.manifest
        examples = pkg.read_json("examples.json")
        reply = _post(serve.create_app(pkg), examples["request"])
        assert reply.status_code == 200
        served = [p["churn_probability"] for p in reply.json()["predictions"]]
        np.testing.assert_allclose(served, examples["churn_probability"], atol=1e-9)
        ids = [c[contract.ID] for c in examples["request"]["customers"]]
        assert [p[contract.ID] for p in reply.json()["predictions"]] == ids
