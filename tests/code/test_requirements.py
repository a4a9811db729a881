"""The lock in requirements/: pinned and hashed, in step with pyproject.toml, installed.

`make install` installs nothing but pip.txt and dev.txt, with pip's hash checking
on; the targets that run the benchmark add bench.txt on top. So the virtualenv
running this suite must hold exactly what the first two pin, or what all three do.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import scratch
from conftest import ROOT

LOCKS = sorted((ROOT / "requirements").glob("*.txt"))
#: What `make install` installs, in order: pip first, then the package environment.
INSTALLED = [ROOT / "requirements" / "pip.txt", ROOT / "requirements" / "dev.txt"]
#: The bench extra, on top of the installed lock (`make bench`).
BENCH = ROOT / "requirements" / "bench.txt"
#: Targets that run the benchmark, and so install the bench extra first.
BENCH_TARGETS = ["bench", "bench-tiny", "test"]
HASH = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Pin:
    """One requirement of a lock file: `name==version ; marker --hash=...`."""

    lock: str
    name: str
    version: str
    marker: Marker | None
    hashes: tuple[str, ...]
    line: str

    def applies(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def logical_lines(path: Path) -> list[str]:
    """The lines of a requirements file, continuations joined, comments dropped."""
    text = path.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = (re.sub(r"(^|\s)#.*$", "", line).strip() for line in text.splitlines())
    return [line for line in lines if line]


def parse_pin(lock: str, line: str) -> Pin:
    head, *hashes = re.split(r"\s+--hash=", line)
    req = Requirement(head)
    specs = list(req.specifier)
    assert req.url is None and not req.extras, f"{lock}: {line[:80]}"
    assert len(specs) == 1 and specs[0].operator == "==", f"{lock}: not pinned: {head}"
    assert "*" not in specs[0].version, f"{lock}: not one version: {head}"
    return Pin(
        lock=lock,
        name=canonicalize_name(req.name),
        version=specs[0].version,
        marker=req.marker,
        hashes=tuple(hashes),
        line=head,
    )


def pins(path: Path) -> list[Pin]:
    """The requirements of a lock file; option lines are a test of their own."""
    lines = logical_lines(path)
    return [parse_pin(path.name, line) for line in lines if not line.startswith("-")]


def locked(paths: list[Path] = INSTALLED) -> dict[str, Pin]:
    """Every pin of the lock files `paths`, by canonical name.

    bench.txt repeats the pins of dev.txt that MLflow needs too: a package locked in
    two files must be locked alike, version, marker and hashes.
    """
    out: dict[str, Pin] = {}
    for path in paths:
        for pin in pins(path):
            seen = out.setdefault(pin.name, pin)
            assert (seen.version, seen.marker, sorted(seen.hashes)) == (
                pin.version,
                pin.marker,
                sorted(pin.hashes),
            ), f"{pin.name}: {seen.lock} has {seen.line}, {pin.lock} {pin.line}"
    return out


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def is_self(req: Requirement) -> bool:
    """`churn[pipeline,report]`: an extra that names the package's own extras."""
    return canonicalize_name(req.name) == canonicalize_name(
        pyproject()["project"]["name"]
    )


def pyproject_requirements() -> list[tuple[str, str]]:
    """(where, requirement): the package's dependencies, every extra's, the build
    system's; where is `core`, the extra's name or `build`."""
    data = pyproject()
    reqs = [("core", r) for r in data["project"]["dependencies"]]
    for name, extra in data["project"]["optional-dependencies"].items():
        reqs += [(name, r) for r in extra]
    return reqs + [("build", r) for r in data["build-system"]["requires"]]


def make_dry_run(target: str, venv: Path, *args: str, cwd: Path = ROOT) -> list[str]:
    """The commands `make -n TARGET` would run, for a virtualenv at `venv`."""
    proc = subprocess.run(
        ["make", "-n", *args, target, f"VENV={venv}"],
        cwd=cwd,
        env=scratch.outside_make(),
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.replace("\\\n", " ").splitlines()


# --- the files -----------------------------------------------------------------


def test_the_lock_is_pip_the_package_environment_and_the_bench_extra() -> None:
    assert [p.name for p in LOCKS] == ["bench.txt", "dev.txt", "pip.txt"]
    assert [p.name for p in pins(ROOT / "requirements" / "pip.txt")] == ["pip"]


def test_the_bench_lock_adds_mlflow_in_step_with_the_dev_lock() -> None:
    dev, bench = locked([INSTALLED[1]]), locked([BENCH])
    assert "mlflow-skinny" in bench and "mlflow-skinny" not in dev
    # In step: what both pin, they pin alike (`locked` checks it for the pair).
    both = locked([INSTALLED[1], BENCH])
    assert set(both) == set(dev) | set(bench)
    # The core comes with the bench lock too, at the versions `make install` put in.
    assert {"scikit-learn", "pandas", "uvicorn"} <= set(bench) & set(dev)


def test_core_serves_and_the_extras_hold_the_rest() -> None:
    data = pyproject()
    core = {
        canonicalize_name(Requirement(r).name) for r in data["project"]["dependencies"]
    }
    extras = {
        name: [Requirement(r) for r in reqs]
        for name, reqs in data["project"]["optional-dependencies"].items()
    }
    assert set(extras) == {"pipeline", "report", "dev", "bench"}
    names = {k: {canonicalize_name(r.name) for r in v} for k, v in extras.items()}
    assert names["pipeline"] == {"dvc", "great-expectations", "pyarrow"}
    assert names["report"] == {"vl-convert-python"}
    assert names["bench"] == {"mlflow-skinny"}
    assert not core & set().union(*names.values())
    assert {"fastapi", "uvicorn", "pandas", "scikit-learn", "skops"} <= core
    # uvicorn with its C parser and event loop, not their pins one by one.
    uvicorn = next(
        Requirement(r)
        for r in data["project"]["dependencies"]
        if Requirement(r).name == "uvicorn"
    )
    assert uvicorn.extras == {"standard"}
    assert not core & {"httptools", "uvloop"}
    # dev brings the pipeline and the report, so `make install` has everything.
    (own,) = [r for r in extras["dev"] if is_self(r)]
    assert own.extras == {"pipeline", "report"}


@pytest.mark.parametrize("path", LOCKS, ids=lambda p: p.name)
def test_every_requirement_is_pinned_with_hashes(path: Path) -> None:
    lines = logical_lines(path)
    assert lines
    options = [line for line in lines if line.startswith("-")]
    assert not options, f"options (an index, find-links, an editable): {options}"
    for pin in pins(path):
        assert pin.hashes, f"{pin.line} has no --hash"
        for value in pin.hashes:
            assert HASH.match(value), f"{pin.line}: {value}"


@pytest.mark.parametrize("path", LOCKS, ids=lambda p: p.name)
def test_names_no_host_and_no_path_of_this_machine(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for needle in ("://", "file:/", "/opt/", "/tmp/", "/home/", "/root/", str(ROOT)):
        assert needle not in text, needle


@pytest.mark.parametrize("path", LOCKS, ids=lambda p: p.name)
def test_header_says_how_to_regenerate_it(path: Path) -> None:
    header = path.read_text(encoding="utf-8").split("\n\n", 1)[0]
    assert "autogenerated by pip-compile with Python 3.11" in header
    assert re.search(r"^#\s+make lock$", header, re.M), header


@pytest.mark.parametrize(("where", "req"), pyproject_requirements())
def test_pyproject_and_the_lock_agree(where: str, req: str) -> None:
    requirement = Requirement(req)
    if is_self(requirement):
        return  # the package's own extras, checked one by one with their names
    # `make install` installs all but the bench extra, which bench.txt locks.
    lock = locked([BENCH]) if where == "bench" else locked()
    pin = lock.get(canonicalize_name(requirement.name))
    assert pin is not None, f"{req} is not in the lock: run `make lock`"
    assert requirement.specifier.contains(pin.version, prereleases=True), (
        f"pyproject.toml wants {req}, the lock has {pin.line}: run `make lock`"
    )
    for spec in requirement.specifier:
        if spec.operator == "==":
            assert Version(pin.version) == Version(spec.version), pin.line
    # A requirement's extras (`uvicorn[standard]`) are locked with it.
    if requirement.extras:
        meta = importlib.metadata.distribution(requirement.name).requires or []
        for line in meta:
            dep = Requirement(line)
            if (
                dep.marker is not None
                and any(dep.marker.evaluate({"extra": e}) for e in requirement.extras)
                and not dep.marker.evaluate({"extra": ""})
            ):
                assert canonicalize_name(dep.name) in lock, f"{req}: {dep} unlocked"


# --- the virtualenv ------------------------------------------------------------


def test_the_virtualenv_holds_exactly_the_lock() -> None:
    lock = locked()
    bench_only = set(locked([BENCH])) - set(lock)
    installed_names = {
        canonicalize_name(dist.metadata["Name"])
        for dist in importlib.metadata.distributions()
    }
    if installed_names & bench_only:  # a target that runs the benchmark added it
        lock = locked(LOCKS)
    wrong = []
    for pin in lock.values():
        if not pin.applies():
            continue  # a marker for another platform or Python
        try:
            installed = importlib.metadata.version(pin.name)
        except importlib.metadata.PackageNotFoundError:
            wrong.append(f"{pin.line}: not installed")
            continue
        if Version(installed) != Version(pin.version):
            wrong.append(f"{pin.line}: {installed} installed")
    assert "churn" in installed_names
    extra = installed_names - set(lock) - {"churn"}
    wrong += [f"{name}: installed, not in the lock" for name in sorted(extra)]
    assert not wrong, "run `make install`:\n" + "\n".join(wrong)


# --- the Makefile ----------------------------------------------------------------


def _pip_installs(commands: list[str]) -> list[str]:
    return [c for c in commands if re.search(r"-m pip install\b", c)]


def _from_lock(venv: Path, path: Path) -> str:
    return (
        f"{venv}/bin/python -m pip install --require-hashes -r {path.relative_to(ROOT)}"
    )


def _install(venv: Path) -> list[str]:
    editable = f"{venv}/bin/python -m pip install --no-deps --no-build-isolation -e ."
    # pip first, so that the new pip installs the rest; the package last, on top.
    return [*(_from_lock(venv, p) for p in INSTALLED), editable]


def test_make_install_installs_only_from_the_lock_with_hashes(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    installs = _pip_installs(make_dry_run("install", venv))
    # No bench extra; and no --quiet: the first install shows its progress.
    assert installs == _install(venv)
    assert not any(re.search(r"\s(-q|--quiet)\b", c) for c in installs)


@pytest.mark.parametrize("target", BENCH_TARGETS)
def test_the_benchmark_targets_add_the_bench_lock(tmp_path: Path, target: str) -> None:
    venv = tmp_path / "venv"
    installs = _pip_installs(make_dry_run(target, venv))
    assert installs == [*_install(venv), _from_lock(venv, BENCH)]


@pytest.mark.parametrize("target", ["lint", "repro", "serve", "notebook"])
def test_other_targets_do_without_the_bench_extra(tmp_path: Path, target: str) -> None:
    venv = tmp_path / "venv"
    assert _pip_installs(make_dry_run(target, venv)) == _install(venv)


def _checkout_copy(dest: Path) -> Path:
    """The Makefile and what an install reads, copied to `dest` to be changed."""
    (dest / "requirements").mkdir(parents=True)
    for path in [ROOT / "Makefile", ROOT / "pyproject.toml", *INSTALLED, BENCH]:
        (dest / path.relative_to(ROOT)).write_bytes(path.read_bytes())
    return dest


def test_the_install_stamps_follow_every_lock_file(tmp_path: Path) -> None:
    copy = _checkout_copy(tmp_path / "checkout")
    venv = tmp_path / "venv"
    venv.mkdir()
    # Stamps newer than every file: only what the files hold can call for an install.
    _stamp(venv / ".installed", _install_key(venv, copy), FUTURE)
    _stamp(venv / ".installed-bench", _bench_key(venv, copy), FUTURE)
    assert _pip_installs(make_dry_run("bench", venv, cwd=copy)) == []
    for path in [ROOT / "pyproject.toml", *INSTALLED]:
        changed = copy / path.relative_to(ROOT)
        changed.write_bytes(path.read_bytes() + b"\n")
        installs = _pip_installs(make_dry_run("install", venv, cwd=copy))
        assert installs == _install(venv), path.name
        # A new install clears the virtualenv, and the bench extra with it.
        again = _pip_installs(make_dry_run("bench", venv, cwd=copy))
        assert again == [*_install(venv), _from_lock(venv, BENCH)], path.name
        changed.write_bytes(path.read_bytes())
    (copy / BENCH.relative_to(ROOT)).write_bytes(BENCH.read_bytes() + b"\n")
    assert _pip_installs(make_dry_run("install", venv, cwd=copy)) == []
    assert _pip_installs(make_dry_run("bench", venv, cwd=copy)) == [
        _from_lock(venv, BENCH)
    ]


def _printed(args: list[str], cwd: Path, **env: str) -> str:
    """What `make -s ARGS` prints in `cwd`, outside any make of this run."""
    run_env = scratch.outside_make() | env
    proc = subprocess.run(
        ["make", "-s", *args], cwd=cwd, env=run_env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _install_key(venv: Path, cwd: Path = ROOT, **env: str) -> str:
    """What `make install-key` prints for a virtualenv at `venv`."""
    return _printed(["install-key", f"VENV={venv}"], cwd, **env)


def _bench_key(venv: Path, cwd: Path = ROOT) -> str:
    """The digest the bench stamp of a virtualenv at `venv` holds once installed."""
    rule = "bench-key: ; @echo '$(call bench_key,$(install_key))'"
    return _printed(["--eval", rule, "bench-key", f"VENV={venv}"], cwd)


#: 2000-01-01 and 2100-01-01: older, and newer, than every file of the checkout.
PAST, FUTURE = 946_684_800, 4_102_444_800


def _stamp(path: Path, text: str, when: int = PAST) -> None:
    """An install stamp holding `text`, dated `when`."""
    path.write_text(text + "\n")
    os.utime(path, (when, when))


def test_a_virtualenv_reached_through_a_link_is_not_cleared(tmp_path: Path) -> None:
    # Its stamp holds the digest of the place it really is, so through the link
    # it looks out of date, and `venv --clear` would empty it.
    real = (tmp_path / "real").resolve()
    real.mkdir()
    (real / "kept").write_text("a package\n")
    link = tmp_path / "link"
    link.symlink_to(real)
    proc = subprocess.run(
        ["make", "install", f"VENV={link}"],
        cwd=ROOT,
        env=scratch.outside_make(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert f"{link} is a link to {real}: a fresh install would empty" in proc.stderr
    assert f"pass VENV={real} to use it" in proc.stderr
    assert sorted(p.name for p in real.iterdir()) == ["kept"]


def test_a_stamp_holding_the_lock_digest_is_only_touched(tmp_path: Path) -> None:
    # A checkout or a restored cache: every file newer than the stamps, none changed.
    venv = tmp_path / "venv"
    venv.mkdir()
    key = _install_key(venv)
    _stamp(venv / ".installed", key)
    commands = make_dry_run("install", venv)
    assert _pip_installs(commands) == [], commands
    assert f"touch {venv}/.installed" in commands
    # The bench stamp holds a digest of its own, over the first one and its lock.
    _stamp(venv / ".installed-bench", key)
    assert _pip_installs(make_dry_run("bench", venv)) == [_from_lock(venv, BENCH)]
    bench = _bench_key(venv)
    assert re.fullmatch(r"[0-9a-f]{20}", bench) and bench != key
    _stamp(venv / ".installed-bench", bench)
    commands = make_dry_run("bench", venv)
    assert _pip_installs(commands) == [], commands
    assert f"touch {venv}/.installed-bench" in commands


@pytest.mark.parametrize(
    ("held", "when", "python"),
    [
        ("0" * 20, PAST, None),  # another lock
        # Newer than every file, yet made for another lock, Python or place.
        ("0" * 20, FUTURE, None),
        ("", PAST, None),  # a stamp from before stamps held a digest
        # The right digest, but no Python to take it again: nothing can agree.
        ("KEY", FUTURE, "/nonexistent/python3"),
    ],
    ids=["other-digest", "other-digest-newer", "no-digest", "no-python"],
)
def test_a_stamp_that_does_not_hold_the_lock_digest_reinstalls(
    tmp_path: Path, held: str, when: int, python: str | None
) -> None:
    venv = tmp_path / "venv"
    venv.mkdir()
    _stamp(venv / ".installed", _install_key(venv) if held == "KEY" else held, when)
    args = [f"PYTHON={python}"] if python else []
    assert _pip_installs(make_dry_run("install", venv, *args)) == _install(venv)


def test_the_bench_extra_is_reinstalled_with_the_install(tmp_path: Path) -> None:
    # A virtualenv made again loses the bench extra, whatever its stamp says.
    venv = tmp_path / "venv"
    venv.mkdir()
    _stamp(venv / ".installed-bench", _bench_key(venv), FUTURE)
    _stamp(venv / ".installed", "0" * 20, FUTURE)
    installs = _pip_installs(make_dry_run("bench", venv))
    assert installs == [*_install(venv), _from_lock(venv, BENCH)]


def test_a_lock_rewritten_earlier_in_the_same_run_is_installed(tmp_path: Path) -> None:
    # As `make lock install`: the digest is taken as the recipe runs, not as make
    # starts. The `+` line runs even under `make -n`.
    copy = _checkout_copy(tmp_path / "checkout")
    venv = tmp_path / "venv"
    venv.mkdir()
    _stamp(venv / ".installed", _install_key(venv, copy))
    relock = "relock:\n\t+@echo '# recompiled' >> requirements/dev.txt"
    commands = make_dry_run("install", venv, "--eval", relock, "relock", cwd=copy)
    assert _pip_installs(commands) == _install(venv), commands


def test_the_lock_digest_follows_the_files_the_python_and_the_place(
    tmp_path: Path,
) -> None:
    copy = _checkout_copy(tmp_path / "checkout")
    venv = copy / ".venv"
    key = _install_key(venv, copy)
    assert re.fullmatch(r"[0-9a-f]{20}", key), key
    assert _install_key(venv, copy) == key
    assert _install_key(tmp_path / "elsewhere", copy) != key
    # The bench lock is the bench stamp's business, not this digest's.
    (copy / BENCH.relative_to(ROOT)).write_text("changed\n")
    assert _install_key(venv, copy) == key
    for path in [ROOT / "pyproject.toml", *INSTALLED]:
        changed = copy / path.relative_to(ROOT)
        changed.write_bytes(path.read_bytes() + b"\n")
        assert _install_key(venv, copy) != key, path.name
        changed.write_bytes(path.read_bytes())
    assert _install_key(venv, copy) == key
    # Another interpreter: a copy of this one, elsewhere on disk.
    other = tmp_path / "python"
    subprocess.run(
        ["python3", "-m", "venv", "--copies", "--without-pip", str(other)], check=True
    )
    elsewhere = _install_key(venv, copy, PYTHON=str(other / "bin" / "python3"))
    assert re.fullmatch(r"[0-9a-f]{20}", elsewhere) and elsewhere != key


def test_make_lock_compiles_every_lock_file_without_the_machine_in_it(
    tmp_path: Path,
) -> None:
    commands = re.sub(r"\s+", " ", " ".join(make_dry_run("lock", tmp_path / "venv")))
    for path in LOCKS:
        assert f"--output-file {path.relative_to(ROOT)}" in commands, path.name
    for flag in (
        "--generate-hashes",
        "--allow-unsafe",
        "--no-emit-index-url",
        "--no-emit-find-links",
        "--no-emit-trusted-host",
    ):
        assert commands.count(flag) == len(LOCKS), flag
    assert "--extra dev --build-deps-for editable" in commands
    # bench.txt takes the versions dev.txt pins, so that one installs over the other.
    assert "--extra bench --constraint requirements/dev.txt" in commands
    assert commands.count("--extra bench") == 1
    assert "--build-deps-for editable" in commands
    assert str(ROOT / ".venv") not in commands, "pip-tools never goes into .venv"
