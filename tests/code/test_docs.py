"""The docs cannot go stale: links resolve and every command shown is run somewhere.

Two rules over every Markdown file in the repository (tracked, or new and not
ignored), so that pages added later are covered without touching this module:

- every relative link or image points at a file or folder of the repository
  (anchors are not checked), and every image is a real PNG small enough to load
  in a moment;
- every command in a fenced `bash` block is run by a test, or its block carries a
  `# needs GitHub` comment line.

"Run by a test" is read from the tests' source, not from a list kept here: a command
counts when some test passes it to a runner call (`run([...])`, `make("target", ...)`,
`subprocess.run(...)`, ...), as the literal words a user would type; a path in a
non-literal position matches any word. A page whose blocks a test executes by reading
the page itself says so with `<!-- run by tests/.../test_x.py -->` right above the
block; the named test must exist and name the page. `make test` is the command that
runs this very suite, so it counts as run.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

from conftest import ROOT, clone, make

SHELLS = {"bash", "sh", "shell", "zsh"}
NEEDS_GITHUB = re.compile(r"^\s*#\s*needs GitHub\b", re.M)
RUN_BY = re.compile(r"<!--\s*run by\s+(\S+)\s*-->")
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
#: Commands that only set up the shell; what follows them is what must be run.
SETUP = {"cd", "source", ".", "export"}
#: Callees whose arguments are commands that get executed.
RUNNER = re.compile(
    r"(^|_)(run|make|call|check_call|check_output|popen|exec|sh|bash|invoke)($|_)",
    re.I,
)
#: A word of a test's command that is not a literal (a path, a variable).
ANY = "\0any"

_markdown = MarkdownIt("commonmark").enable("table")

# --- what the repository holds -------------------------------------------------


def repo_files(root: Path) -> set[str]:
    """Files in git, or new and not ignored, as POSIX paths relative to `root`."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {name for name in out.split("\0") if name and (root / name).exists()}


def with_folders(files: set[str]) -> set[str]:
    """`files` plus every folder that holds one of them, and the root itself."""
    out = set(files) | {"."}
    for name in files:
        out.update(str(parent) for parent in Path(name).parents if str(parent) != ".")
    return out


def markdown_files(root: Path) -> list[str]:
    return sorted(name for name in repo_files(root) if name.endswith(".md"))


# --- links ------------------------------------------------------------------


def links(text: str) -> Iterator[tuple[int, str]]:
    """(line, target) of every link and image, outside code, in Markdown `text`."""
    line = 1
    for token in _markdown.parse(text):
        if token.map:
            line = token.map[0] + 1
        if token.type == "html_block":
            for match in HTML_LINK.finditer(token.content):
                yield line + token.content[: match.start()].count("\n"), match[1]
        if token.type != "inline":
            continue
        offset = 0
        for child in token.children or []:
            if child.type in ("softbreak", "hardbreak"):
                offset += 1
            elif child.type == "link_open":
                yield line + offset, str(child.attrs["href"])
            elif child.type == "image":
                yield line + offset, str(child.attrs["src"])
            elif child.type == "html_inline":
                for match in HTML_LINK.finditer(child.content):
                    yield line + offset, match[1]


#: A workflow's page or status badge on GitHub, linked relative to the page so that
#: a fork shows its own: `../../actions/workflows/ci.yml/badge.svg` from README.md.
WORKFLOW_PAGE = re.compile(
    r"^((?:\.\./)+)actions/workflows/([\w.-]+\.ya?ml)(/badge\.svg)?$"
)


def link_targets(root: Path, page: str) -> Iterator[tuple[int, str, str]]:
    """(line, link, repository path it points at) for each relative link of `page`."""
    depth = len(Path(page).parent.parts)
    for line, href in links((root / page).read_text(encoding="utf-8")):
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path:
            continue  # a URL, or an anchor in the same page
        path = unquote(parts.path)
        workflow = WORKFLOW_PAGE.match(path)
        # GitHub resolves a page's links against `OWNER/REPO/blob/BRANCH/page`:
        # two levels more than the page's folder reach the repository's own pages.
        if workflow and len(workflow[1]) // 3 == depth + 2:
            yield line, href, f".github/workflows/{workflow[2]}"
            continue
        base = "." if path.startswith("/") else str(Path(page).parent)
        yield line, href, os.path.normpath(os.path.join(base, path.lstrip("/")))


def broken_links(root: Path, page: str, known: set[str]) -> list[str]:
    """`page:line: link` for each relative link of `page` that resolves to nothing."""
    return [
        f"{page}:{line}: {href}"
        for line, href, target in link_targets(root, page)
        if target.startswith("..") or target not in known
    ]


#: What a page may link as a picture: a PNG, as vl-convert draws them.
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
PNG = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_BYTES = 200_000


def bad_images(root: Path, page: str) -> list[str]:
    """`page:line: link (why)` for each picture `page` links that is not a PNG of
    the repository under `MAX_IMAGE_BYTES`."""
    found = []
    for line, href, target in link_targets(root, page):
        if Path(target).suffix.lower() not in IMAGE_SUFFIXES:
            continue
        path = root / target
        data = path.read_bytes() if path.is_file() else b""
        why = (
            "missing"
            if not path.is_file()
            else "not a PNG"
            if not data.startswith(PNG)
            else f"{len(data)} bytes"
            if len(data) > MAX_IMAGE_BYTES
            else None
        )
        if why:
            found.append(f"{page}:{line}: {href} ({why})")
    return found


# --- commands in the docs ----------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """One command shown in a page's bash block."""

    page: str
    line: int
    words: tuple[str, ...]
    needs_github: bool
    run_by: str | None

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {shlex.join(self.words)}"


def normalise(words: list[str]) -> tuple[str, ...]:
    """The words of a command as a test would spell them.

    Leading `NAME=value` assignments go (a test passes an environment); a tool
    called through a virtualenv's `bin/` is called by name, since tests put the
    virtualenv on `PATH`; `python3` is `python`.
    """
    while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=\S*", words[0]):
        words = words[1:]
    if not words:
        return ()
    head = words[0]
    if head != ANY and "/" in head and Path(head).parent.name == "bin":
        head = Path(head).name
    if head == "python3":
        head = "python"
    return (head, *words[1:])


def split_commands(line: str) -> list[tuple[str, ...]]:
    """The commands of one shell line, each normalised.

    A line may chain commands with `&&`, `||` or `;`, and each must be run; after a
    `|` comes a filter for reading the output, so only the first stage counts.
    Shell set-up (`cd`, `source`, `export`) is not a command to run.
    """
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[tuple[str, ...]] = []
    current: list[str] = []
    piped = False
    for word in lexer:
        if word in ("&&", "||", ";", "|", "&"):
            if current and not piped:
                commands.append(normalise(current))
            piped = word == "|" or (piped and word not in ("&&", "||", ";"))
            current = []
        else:
            current.append(word)
    if current and not piped:
        commands.append(normalise(current))
    return [c for c in commands if c and c[0] not in SETUP]


def shown_commands(root: Path, page: str) -> list[Shown]:
    """Every command in the fenced bash blocks of `page`."""
    tokens = _markdown.parse((root / page).read_text(encoding="utf-8"))
    shown = []
    for i, token in enumerate(tokens):
        lang = token.info.split()[0] if token.info else ""
        if token.type != "fence" or lang not in SHELLS:
            continue
        before = tokens[i - 1] if i else None
        marker = (
            RUN_BY.search(before.content)
            if before is not None and before.type == "html_block"
            else None
        )
        needs_github = bool(NEEDS_GITHUB.search(token.content))
        first = token.map[0] + 2  # the fence line itself comes first
        joined = token.content.replace("\\\n", "  ")
        starts = _line_starts(token.content)
        for index, text in enumerate(joined.split("\n")):
            text = re.sub(r"^\s*\$\s+", "", text)  # a copied prompt
            for words in split_commands(text):
                shown.append(
                    Shown(
                        page,
                        first + starts[index],
                        words,
                        needs_github,
                        marker[1] if marker else None,
                    )
                )
    return shown


def _line_starts(content: str) -> list[int]:
    """For each logical line (continuations joined), its first physical line."""
    starts, physical = [], 0
    for logical in content.replace("\\\n", "\0").split("\n"):
        starts.append(physical)
        physical += logical.count("\0") + 1
    return starts


# --- commands the tests run --------------------------------------------------


def _callee(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _word(node: ast.expr) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if ast.unparse(node) == "sys.executable":
        return "python"
    return ANY


def _shell_words(text: str) -> list[tuple[str, ...]]:
    return [cmd for line in text.splitlines() for cmd in split_commands(line)]


def executed(source: str) -> set[tuple[str, ...]]:
    """Commands that runner calls in Python `source` execute, normalised."""
    found: set[tuple[str, ...]] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not RUNNER.search(_callee(node)):
            continue
        args = node.args
        if (
            _callee(node) == "make"
            and args
            and isinstance(args[0], ast.Constant)
            and isinstance(args[0].value, str)
        ):
            # conftest's make(target, repo, *args): the repo is where, not what.
            rest = [a for a in args[2:] if not isinstance(a, ast.Starred)]
            found.add(("make", args[0].value, *map(_word, rest)))
            continue
        for arg in args:
            if isinstance(arg, ast.List | ast.Tuple):
                words = [_word(e) for e in arg.elts if not isinstance(e, ast.Starred)]
                if words[:2] in (["bash", "-c"], ["sh", "-c"]) and len(words) > 2:
                    found.update(_shell_words(words[2]))
                elif words:
                    found.add(normalise(words))
            elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                if " " in arg.value.strip():
                    found.update(_shell_words(arg.value))
    return {cmd for cmd in found if cmd and cmd[0] != ANY}


def commands_run_by_tests(root: Path) -> set[tuple[str, ...]]:
    """Every command executed by some test module under `root/tests`."""
    found: set[tuple[str, ...]] = set()
    for path in sorted((root / "tests").rglob("*.py")):
        found |= executed(path.read_text(encoding="utf-8"))
    return found


def matches(shown: tuple[str, ...], run: tuple[str, ...]) -> bool:
    return len(shown) == len(run) and all(
        r in (s, ANY) for s, r in zip(shown, run, strict=True)
    )


def suite_targets(root: Path) -> set[str]:
    """Make targets whose whole recipe is running pytest: this suite, or part of it."""
    text = (root / "Makefile").read_text(encoding="utf-8")
    targets = set()
    for match in re.finditer(r"^([A-Za-z_-]+):[^\n]*\n((?:\t[^\n]*\n?)+)", text, re.M):
        recipe = [line.strip() for line in match[2].splitlines() if line.strip()]
        plain = [re.sub(r"^\S*python3?\b", "python", line) for line in recipe]
        # Options may follow (workers, a marker), but nothing else may run.
        if len(plain) == 1 and re.fullmatch(r"python -m pytest( [^;&|`]*)?", plain[0]):
            targets.add(match[1])
    return targets


def uncovered(root: Path) -> list[str]:
    """Shown commands that no test runs and that are not marked as needing GitHub."""
    run = commands_run_by_tests(root)
    suite = {("make", target) for target in suite_targets(root)}
    missing = []
    for page in markdown_files(root):
        for cmd in shown_commands(root, page):
            if cmd.needs_github or cmd.words in suite:
                continue
            if cmd.run_by is not None:
                problem = _run_by_problem(root, page, cmd.run_by)
                if problem:
                    missing.append(f"{cmd}  ({problem})")
                continue
            if not any(matches(cmd.words, r) for r in run):
                missing.append(str(cmd))
    return missing


def _run_by_problem(root: Path, page: str, test: str) -> str | None:
    """Why a `run by` marker on `page` is not believable, or None."""
    path = root / test
    if not test.startswith("tests/") or not path.is_file():
        return f"no test file {test}"
    strings = {
        node.value
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    named = page in strings or all(part in strings for part in Path(page).parts)
    return None if named else f"{test} does not name {page}"


# --- the rules, on this repository ------------------------------------------


def test_every_relative_link_resolves() -> None:
    known = with_folders(repo_files(ROOT))
    pages = markdown_files(ROOT)
    assert "README.md" in pages and "levels/README.md" in pages
    broken = [b for page in pages for b in broken_links(ROOT, page, known)]
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_every_image_a_page_shows_is_a_small_png() -> None:
    pages = markdown_files(ROOT)
    shown = {
        (page, target)
        for page in pages
        for _, _, target in link_targets(ROOT, page)
        if target.endswith(".png")
    }
    # The pictures the docs promise: one of the report's plots in the README, the
    # month-6 drift chart in level 1, the example report's plots in level 2.
    assert any(page == "README.md" for page, _ in shown)
    drift = "levels/1-pipeline-automation/images/drift-month-6.png"
    assert ("levels/1-pipeline-automation/README.md", drift) in shown
    example = "levels/2-cicd-automation/example-report.md"
    assert sum(page == example for page, _ in shown) >= 6
    bad = [b for page in pages for b in bad_images(ROOT, page)]
    assert not bad, "pictures that are not small PNGs:\n" + "\n".join(bad)


def test_every_shown_command_is_run_by_a_test_or_needs_github() -> None:
    missing = uncovered(ROOT)
    assert not missing, (
        "commands in bash blocks that no test runs (run them in a test, or mark the "
        "block `# needs GitHub`):\n" + "\n".join(missing)
    )


def test_the_readmes_show_commands() -> None:
    # Guards the checker itself: it must see the quick start's commands.
    shown = {c.words for c in shown_commands(ROOT, "README.md")}
    assert {("make", "repro"), ("make", "test")} <= shown


# --- the cheap commands the READMEs show, run here ---------------------------


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clone(tmp_path_factory.mktemp("docs") / "repo")


def test_make_help_lists_the_targets(fresh: Path) -> None:
    out = make("help", fresh).stdout
    for target in ("repro", "test", "lint", "dag", "metrics", "plots"):
        assert re.search(rf"^  make {target}\s", out, re.M), target


def test_make_dag_draws_every_stage(fresh: Path) -> None:
    out = make("dag", fresh).stdout
    for stage in ("validate", "ingest", "prepare", "train", "evaluate"):
        assert f"| {stage} |" in out, stage


# --- the checker, on small made-up pages ------------------------------------


def _page(root: Path, name: str, text: str) -> str:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return name


def test_links_are_found_in_text_tables_and_html_but_not_in_code() -> None:
    text = (
        "See [a](a.md) and ![b](img/b.png).\n"
        "\n"
        "| x | y |\n|---|---|\n| [c](c/) | <a href='d.txt'>d</a> |\n"
        "\n"
        "[e]: e.md\n"
        "Use [the e page][e], not `[f](f.md)`.\n"
        "\n"
        "```text\n[g](g.md)\n```\n"
    )
    assert [t for _, t in links(text)] == ["a.md", "img/b.png", "c/", "d.txt", "e.md"]


def test_workflow_badges_resolve_to_the_workflow_file() -> None:
    targets = {href: target for _, href, target in link_targets(ROOT, "README.md")}
    for name in ("ci.yml", "train.yml", "retrain.yml", "release.yml", "monitor.yml"):
        badge = f"../../actions/workflows/{name}/badge.svg"
        assert targets.get(badge) == f".github/workflows/{name}", name
    assert WORKFLOW_PAGE.match("../../actions/workflows/nope.yml/badge.svg")
    known = with_folders(repo_files(ROOT))
    assert ".github/workflows/nope.yml" not in known


def test_broken_links_are_reported_with_page_and_line(tmp_path: Path) -> None:
    _page(tmp_path, "docs/other.md", "# Other\n")
    page = _page(
        tmp_path,
        "docs/page.md",
        "# Page\n\n[ok](other.md#other) [up](../docs/) [web](https://example.com)\n"
        "[anchor](#page) [root](/docs/other.md)\n\n"
        "[gone](missing.md)\n[out](../../etc/passwd)\n",
    )
    known = with_folders({"docs/other.md", "docs/page.md"})
    assert broken_links(tmp_path, page, known) == [
        "docs/page.md:6: missing.md",
        "docs/page.md:7: ../../etc/passwd",
    ]


def test_pictures_that_are_not_small_pngs_are_reported(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "ok.png").write_bytes(PNG + b"\0" * 100)
    (tmp_path / "img" / "fake.png").write_bytes(b"GIF89a")
    (tmp_path / "img" / "big.png").write_bytes(PNG + b"\0" * MAX_IMAGE_BYTES)
    (tmp_path / "img" / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    page = _page(
        tmp_path,
        "page.md",
        "![ok](img/ok.png) [as a link](img/ok.png)\n\n![fake](img/fake.png)\n"
        "![big](img/big.png)\n![gone](img/gone.png)\n"
        '<img src="img/photo.jpg">\n\n[text](other.md)\n',
    )
    assert bad_images(tmp_path, page) == [
        "page.md:3: img/fake.png (not a PNG)",
        "page.md:4: img/big.png (200008 bytes)",
        "page.md:5: img/gone.png (missing)",
        "page.md:6: img/photo.jpg (not a PNG)",
    ]


def test_commands_are_split_joined_and_normalised(tmp_path: Path) -> None:
    page = _page(
        tmp_path,
        "README.md",
        "```bash\n"
        "# a comment\n"
        "$ make repro\n"
        ".venv/bin/dvc exp run \\\n    -S train.seed=1  # inline comment\n"
        "cd sub && python3 x.py | head -3\n"
        "PORT=8001 make serve\n"
        "```\n"
        "\n```bash\n# needs GitHub\ngh pr create\n```\n"
        "\n```text\nnot a command\n```\n",
    )
    shown = shown_commands(tmp_path, page)
    assert [(c.line, c.words, c.needs_github) for c in shown] == [
        (3, ("make", "repro"), False),
        (4, ("dvc", "exp", "run", "-S", "train.seed=1"), False),
        (6, ("python", "x.py"), False),
        (7, ("make", "serve"), False),
        (12, ("gh", "pr", "create"), True),
    ]


def test_only_commands_passed_to_a_runner_count_as_run() -> None:
    source = (
        "import subprocess, sys\n"
        "make('repro', path)\n"
        "make('serve', path, 'PORT=8001')\n"
        "run(['dvc', 'exp', 'show', str(path)], path)\n"
        "subprocess.run([sys.executable, '-m', 'churn.pipeline.train'])\n"
        "subprocess.run(['bash', '-c', 'make lint && dvc dag'])\n"
        "assert commands == ['make test']\n"
        "print(['dvc', 'push'])\n"
    )
    assert executed(source) == {
        ("make", "repro"),
        ("make", "serve", "PORT=8001"),
        ("dvc", "exp", "show", ANY),
        ("python", "-m", "churn.pipeline.train"),
        ("make", "lint"),
        ("dvc", "dag"),
    }
    assert matches(("dvc", "exp", "show", "x"), ("dvc", "exp", "show", ANY))
    assert not matches(("dvc", "exp", "show"), ("dvc", "exp", "show", ANY))


def test_uncovered_commands_and_false_markers_are_reported(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "Makefile").write_text("test: ## run\n\tpython -m pytest\n")
    _page(
        tmp_path,
        "tests/test_x.py",
        "def test_x():\n    run(['dvc', 'dag'], repo)\n    x = 'docs/a.md'\n",
    )
    _page(
        tmp_path,
        "docs/a.md",
        "```bash\nmake test\ndvc dag\ndvc push\n```\n\n"
        "<!-- run by tests/test_x.py -->\n```bash\nmake tutorial\n```\n",
    )
    _page(
        tmp_path,
        "docs/b.md",
        "<!-- run by tests/test_x.py -->\n```bash\nmake tour\n```\n\n"
        "<!-- run by tests/test_gone.py -->\n```bash\nmake gone\n```\n",
    )
    assert uncovered(tmp_path) == [
        "docs/a.md:4: dvc push",
        "docs/b.md:3: make tour  (tests/test_x.py does not name docs/b.md)",
        "docs/b.md:8: make gone  (no test file tests/test_gone.py)",
    ]
