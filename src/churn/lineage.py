"""What made what: `dvc.lock`, files at git revisions, and a model's identity.

This is the one place that reads git, DVC's JSON output and the JSON files the
stages leave, so that every caller meets the same behaviour: a missing file is
None, a file that is there but unreadable is a `LineageError`, never "missing".

A model's bytes are not a stable name for it. Training multiplies floating-point
numbers through BLAS, and OpenBLAS picks a different kernel on each CPU, so the same
data, params and code give coefficients that differ in their last bits, and a model
file whose hash differs, from one machine to the next. What a model *is* is decided
by what made it: the inputs of the `train` stage as `dvc.lock` records them (the
hashes of its data and code, its params and its command). `identity` hashes exactly
those, so it is the same on every machine, and the release and retrain workflows
decide "is this a new model?" from it, never from the model file.

`churn lineage` prints the identity of the workspace's model; with `--base REV` it
also says whether it differs from the one at `REV` (`--readable PATH`: whether
`out_at` reads PATH there), and exits 2 when it cannot tell.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from churn import config

log = logging.getLogger(__name__)

#: The stage whose recorded inputs name the model.
TRAIN_STAGE = "train"


class LineageError(ValueError):
    """A `dvc.lock` (or a revision) from which no identity can be read."""


def git(*args: str, cwd: Path = config.ROOT) -> str | None:
    """Output of a git command run in `cwd`, or None when git fails or is absent."""
    try:
        proc = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return proc.stdout


def git_show(rev: str, path: str, *, cwd: Path = config.ROOT) -> str | None:
    """The text of `path` at `rev`, or None when the file or the revision is absent."""
    return git("show", f"{rev}:{path}", cwd=cwd)


def short_sha(rev: str, *, cwd: Path = config.ROOT) -> str | None:
    """The abbreviated commit `rev` names, or None when it names none."""
    if not rev or rev.startswith("-"):  # an option, not a revision
        return None
    out = git(
        "rev-parse", "--verify", "--quiet", "--short", f"{rev}^{{commit}}", cwd=cwd
    )
    return out.strip() if out else None


def rev_exists(rev: str, *, cwd: Path = config.ROOT) -> bool:
    """True when `rev` names a commit in the repository at `cwd`."""
    return short_sha(rev, cwd=cwd) is not None


def read_json(path: Path) -> Any | None:
    """A JSON file's content; None when there is no such file.

    A file that exists but cannot be read, or is not JSON, is never taken for a
    missing one: `LineageError` names it.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise LineageError(f"{path}: cannot read it ({exc})") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineageError(f"{path}: not JSON ({exc})") from exc


def json_at(rev: str, path: str, *, cwd: Path = config.ROOT) -> Any | None:
    """A JSON file as committed at `rev`; None when it is not there.

    Committed text that is not JSON is a `LineageError`, as for `read_json`.
    """
    text = git_show(rev, path, cwd=cwd)
    try:
        return None if text is None else json.loads(text)
    except json.JSONDecodeError as exc:
        raise LineageError(f"{rev}:{path}: not JSON ({exc})") from exc


def dvc_json(args: list[str], *, cwd: Path = config.ROOT) -> Any:
    """Run `dvc ARGS --json` and parse what it prints (None when it prints nothing).

    The DVC of the running interpreter is used, whether or not `dvc` is on PATH; a
    failing command raises `LineageError` with DVC's own message.
    """
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", *args, "--json"],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise LineageError(f"dvc {' '.join(args)} failed: {proc.stderr.strip()}")
    try:
        return json.loads(proc.stdout) if proc.stdout.strip() else None
    except json.JSONDecodeError as exc:
        raise LineageError(f"dvc {' '.join(args)} printed no JSON ({exc})") from exc


def read_lock(path: Path) -> dict[str, Any]:
    """A parsed `dvc.lock`; `LineageError` when it is missing or not a lock file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LineageError(f"{path}: cannot read it ({exc})") from exc
    return _parsed(text, str(path))


def lock_at(rev: str, *, cwd: Path = config.ROOT) -> dict[str, Any]:
    """The `dvc.lock` committed at `rev`; `LineageError` when there is none."""
    if not rev_exists(rev, cwd=cwd):
        raise LineageError(f"revision {rev!r} not found")
    text = git_show(rev, config.FILES.lock, cwd=cwd)
    if text is None:
        raise LineageError(f"{rev}: has no dvc.lock")
    return _parsed(text, f"{rev}:dvc.lock")


def _parsed(text: str, source: str) -> dict[str, Any]:
    """The text of a `dvc.lock` read from `source`, parsed and checked."""
    try:
        lock = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise LineageError(f"{source}: not YAML ({exc})") from exc
    if not isinstance(lock, dict) or not isinstance(lock.get("stages"), dict):
        raise LineageError(f"{source}: not a dvc.lock (no `stages`)")
    return lock


def out_hashes(lock: dict[str, Any]) -> dict[str, str]:
    """Path to md5 of every stage output recorded in a parsed `dvc.lock`."""
    return {
        out["path"]: out["md5"]
        for stage in lock.get("stages", {}).values()
        for out in stage.get("outs", [])
    }


def cache_dir(root: Path = config.ROOT) -> Path:
    """The DVC cache of the repository at `root`, found as DVC finds it (without
    importing DVC, a second): `cache.dir` of the nearest config level (local, repo,
    global, system; relative to that file's folder), else `.dvc/cache`."""
    import configobj
    import platformdirs

    levels = [root / ".dvc" / "config.local", root / ".dvc" / "config"]
    for name, find in (("GLOBAL", "user"), ("SYSTEM", "site")):
        default = getattr(platformdirs, f"{find}_config_dir")("dvc", "iterative")
        levels.append(Path(os.getenv(f"DVC_{name}_CONFIG_DIR") or default) / "config")
    for path in levels:
        try:
            cache = configobj.ConfigObj(str(path), file_error=False).get("cache", {})
        except (OSError, configobj.ConfigObjError) as exc:
            raise LineageError(f"{path}: cannot read it ({exc})") from exc
        if cache.get("dir"):
            return (path.parent / Path(cache["dir"]).expanduser()).resolve()
    return root / ".dvc" / "cache"


def out_at(rev: str, path: str, *, cwd: Path = config.ROOT) -> str | None:
    """The text of stage output `path` at `rev`; None when `rev` has none. Per-row
    outputs (`metrics/predictions.csv`) live in the DVC cache, not in git.

    Committed in git at `rev` (an out that `rev`'s dvc.yaml marks `cache: false`):
    that file. Otherwise the DVC cache's object of the md5 in `rev`'s dvc.lock,
    checked; `LineageError` when it is absent or its bytes have another md5.
    """
    if not rev_exists(rev, cwd=cwd):
        raise LineageError(f"revision {rev!r} not found")
    text = git_show(rev, path, cwd=cwd)
    lock = None if text is not None else git_show(rev, config.FILES.lock, cwd=cwd)
    if lock is None:
        return text
    stages = _parsed(lock, f"{rev}:dvc.lock")["stages"].values()
    outs = [o for s in stages for o in (s or {}).get("outs", []) if isinstance(o, dict)]
    out = next((o for o in outs if o.get("path") == path), None)
    if out is None:  # the lock does not record it: `rev` has none
        return None
    md5, folder = str(out.get("md5", "")), cache_dir(cwd)
    # DVC 3 keeps objects under files/md5/, 2.x (a lock without `hash: md5`) at the top.
    obj = folder / ("files/md5" if out.get("hash") == "md5" else "")
    obj = obj / md5[:2] / md5[2:]
    if len(md5) != 32 or not obj.is_file():
        raise LineageError(f"{rev}:{path} (md5 {md5}) is not in the DVC cache {folder}")
    try:
        data = obj.read_bytes()
        if hashlib.md5(data).hexdigest() != md5:
            raise LineageError(f"{obj}: its bytes do not have the md5 {rev} records")
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LineageError(f"{obj}: cannot read it ({exc})") from exc


def model_inputs(lock: dict[str, Any], stage: str = TRAIN_STAGE) -> dict[str, Any]:
    """What `dvc.lock` records as the inputs of `stage`: command, deps and params.

    Only the inputs: the stage's outputs (the model file) are left out, because their
    bytes depend on the machine that ran it.
    """
    entry = lock.get("stages", {}).get(stage)
    if not isinstance(entry, dict) or not entry.get("deps"):
        raise LineageError(f"dvc.lock records no inputs for stage {stage!r}")
    try:
        deps = {d["path"]: d["md5"] for d in entry["deps"]}
    except (KeyError, TypeError) as exc:
        raise LineageError(f"dvc.lock: a dep of {stage!r} has no md5") from exc
    return {"cmd": entry.get("cmd"), "deps": deps, "params": entry.get("params", {})}


def identity(lock: dict[str, Any]) -> str:
    """A SHA-256 of the train stage's recorded inputs: the same on every machine."""
    canonical = json.dumps(model_inputs(lock), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def changed_since(base: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """The train-stage inputs that differ between two locks (empty: same model).

    Names each dep path and param file whose recorded value changed, and `cmd` when
    the command did; a machine that only wrote other model bytes changes none.
    """
    old, new = model_inputs(base), model_inputs(current)
    names = sorted(set(old["deps"]) | set(new["deps"]))
    found = [p for p in names if old["deps"].get(p) != new["deps"].get(p)]
    files = sorted(set(old["params"]) | set(new["params"]))
    found += [f for f in files if old["params"].get(f) != new["params"].get(f)]
    if old["cmd"] != new["cmd"]:
        found.append("cmd")
    return found


def main(argv: list[str] | None = None) -> int:
    """Entry point: print `inputs=`, with `--base` also `changed=`; `--readable`."""
    parser = argparse.ArgumentParser(
        formatter_class=argparse.RawDescriptionHelpFormatter,
        prog="churn lineage",
        description=__doc__,
    )
    parser.add_argument("--lock", type=Path, default=config.LOCK_FILE)
    parser.add_argument(
        "--base", help="a git revision: say whether the model's inputs changed since"
    )
    parser.add_argument("--readable", metavar="PATH", help="only: can PATH be read")
    args = parser.parse_args(argv)
    config.setup_logging()
    try:
        if args.readable:
            found = out_at(args.base or "HEAD", args.readable)
            sys.stdout.write(f"readable={'false' if found is None else 'true'}\n")
            return 0 if found is not None else 2
        current = read_lock(args.lock)
        lines = {"inputs": identity(current)}
        if args.base is not None:
            base = lock_at(args.base)
            differ = changed_since(base, current)
            lines["base_inputs"] = identity(base)
            lines["changed"] = "true" if differ else "false"
            if differ:
                log.info("the model's inputs changed since %s: %s", args.base, differ)
            else:
                log.info("the model's inputs are those at %s", args.base)
    except LineageError as exc:
        log.error("cannot judge: %s", exc)
        return 2
    sys.stdout.write("".join(f"{k}={v}\n" for k, v in lines.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
