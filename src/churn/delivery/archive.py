"""The package as a `.tar.gz`: written reproducibly, read without trusting it.

`write` packs a package folder into `<folder>.tar.gz` with fixed times, owners and
modes, so the same files give the same bytes. `unpack` is the one way an archive is
opened, and it treats the archive as hostile. It accepts one top folder holding
regular files only: no sub-folders, links, devices or FIFOs, no absolute names, no
`..`. It accepts at most `MAX_MEMBERS` members and `MAX_BYTES` in all. The size is
judged twice. First from the members' headers, read one by one, so a single 1 GiB
member is refused on reading its header, before anything is written. Then again as
each member is written. tarfile's own "data" filter runs on top of both.
"""

from __future__ import annotations

import gzip
import io
import shutil
import tarfile
import zlib
from pathlib import Path

from churn.delivery import contents
from churn.delivery.contents import PackageError

#: Largest total a package may expand to; a real one is a few MB.
MAX_BYTES = contents.MAX_BYTES
#: A package holds eight files; more members than this is not one.
MAX_MEMBERS = 32


def write(folder: Path) -> Path:
    """`folder` as a reproducible `.tar.gz` beside it: same files, same bytes."""
    target = folder.with_name(folder.name + ".tar.gz")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(folder.iterdir()):
            entry = tar.gettarinfo(str(path), arcname=f"{folder.name}/{path.name}")
            entry.mtime, entry.uid, entry.gid = 0, 0, 0
            entry.uname, entry.gname, entry.mode = "", "", 0o644
            with path.open("rb") as fh:
                tar.addfile(entry, fh)
    target.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))
    return target


def member_problem(member: tarfile.TarInfo) -> str | None:
    """Why `member` has no place in a package archive, or None if it has one."""
    parts = member.name.split("/")
    if member.name.startswith("/"):
        return "has an absolute name"
    if any(part in ("", ".", "..") for part in parts):
        return "has an empty, '.' or '..' component"
    if member.issym() or member.islnk():
        return f"is a link (to {member.linkname!r})"
    if member.isdev():
        return "is a device or FIFO"
    if member.isdir() and len(parts) == 1:
        return None
    if member.isfile() and len(parts) == 2:
        return None
    return "is not a file directly inside the package folder"


def check_members(
    tar: tarfile.TarFile, source: Path, max_bytes: int, max_members: int
) -> list[tarfile.TarInfo]:
    """The archive's members, judged from their headers, read one at a time."""
    found: list[tarfile.TarInfo] = []
    total = 0
    for member in tar:
        if len(found) == max_members:
            raise PackageError(f"{source}: more than {max_members} members")
        problem = member_problem(member)
        if problem:
            raise PackageError(f"{source}: member {member.name!r} {problem}")
        total += member.size
        if total > max_bytes:
            raise PackageError(
                f"{source}: expands past {max_bytes} bytes (at member "
                f"{member.name!r}); refused before extracting"
            )
        found.append(member)
    tops = {m.name.split("/")[0] for m in found}
    if len(tops) != 1:
        raise PackageError(f"{source}: expected one top folder, got {sorted(tops)}")
    return found


def _extract(
    tar: tarfile.TarFile,
    members: list[tarfile.TarInfo],
    dest: Path,
    *,
    source: Path,
    max_bytes: int,
) -> None:
    written = 0

    def guard(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo | None:
        nonlocal written
        written += member.size
        if written > max_bytes:
            raise PackageError(
                f"{source}: expands past {max_bytes} bytes (at member "
                f"{member.name!r}); extraction stopped"
            )
        return tarfile.data_filter(member, path)

    tar.extractall(dest, members=members, filter=guard)


def unpack(
    archive_file: Path,
    dest: Path,
    *,
    max_bytes: int = MAX_BYTES,
    max_members: int = MAX_MEMBERS,
) -> Path:
    """Extract a package archive into `dest`; return the package folder in it.

    Raises `PackageError`, naming the archive and the reason, for anything that is
    not a package archive; what was extracted before the refusal is removed.
    """
    top: Path | None = None
    try:
        with tarfile.open(archive_file, "r:gz") as tar:
            members = check_members(tar, archive_file, max_bytes, max_members)
            folder = dest / members[0].name.split("/")[0]
            if folder.exists():
                raise PackageError(f"{folder}: already exists; not unpacking over it")
            top = folder
            _extract(tar, members, dest, source=archive_file, max_bytes=max_bytes)
    except PackageError:
        _remove(top)
        raise
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        _remove(top)
        raise PackageError(f"{archive_file}: not a readable .tar.gz ({exc})") from None
    if top is None or not top.resolve().is_relative_to(dest.resolve()):
        raise PackageError(f"{archive_file}: unpacks outside {dest}")
    return top


def _remove(folder: Path | None) -> None:
    if folder is not None and folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder, ignore_errors=True)
