"""What the READMEs state about the pipeline, the workflows and the numbers is true.

Each claim is read from the file it describes: the stages and edges from dvc.yaml
and `dvc dag --md`, the triggers and steps from the workflows, the figures from the
committed metrics.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run

README = "README.md"
LEVELS = "levels/README.md"
LEVEL0 = "levels/0-manual/README.md"
LEVEL1 = "levels/1-pipeline-automation/README.md"
LEVEL2 = "levels/2-cicd-automation/README.md"
WORKFLOWS = ROOT / ".github" / "workflows"
#: A mermaid edge: `a --> b`, `a -.-> b`, `a[label] -->|text| b`.
EDGE = re.compile(
    r"^\s*(\w+)(?:\[([^\]]*)\])?\s*(-\.->|-->)\s*(?:\|([^|]*)\|\s*)?(\w+)(?:\[[^\]]*\])?"
)
NODE = re.compile(r"(\w+)\[([^\]]*)\]")


def text(page: str) -> str:
    return (ROOT / page).read_text(encoding="utf-8")


def flat(page: str) -> str:
    """The page with its line breaks as spaces, for sentences that wrap."""
    return re.sub(r"\s+", " ", text(page))


def mermaid_blocks(page: str) -> list[str]:
    return re.findall(r"^```mermaid\n(.*?)^```", text(page), re.S | re.M)


# --- the pipeline -------------------------------------------------------------


def dvc_stages() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


def resolve(value: str, params: dict) -> str:
    """`${a.b}` in dvc.yaml, from params.yaml."""

    def lookup(match: re.Match) -> str:
        node = params
        for key in match[1].split("."):
            node = node[key]
        return str(node)

    return re.sub(r"\$\{([^}]+)\}", lookup, value)


def paths(entries: list, params: dict) -> set[str]:
    """The paths of a stage's deps or outs (an out may carry options)."""
    names = [next(iter(e)) if isinstance(e, dict) else e for e in entries or []]
    return {resolve(n, params) for n in names}


def dag_edges(md: str) -> set[tuple[str, str]]:
    """The stage-to-stage edges of `dvc dag --md` output."""
    names = dict(re.findall(r'(node\d+)\["([^"]+)"\]', md))
    return {(names[a], names[b]) for a, b in re.findall(r"(node\d+)-->(node\d+)", md)}


def pipeline_diagram(page: str) -> str:
    """The one mermaid chart on `page` that draws the pipeline's stages."""
    found = [
        b for b in mermaid_blocks(page) if re.search(r"\bvalidate\b.*\bingest", b, re.S)
    ]
    assert len(found) == 1, f"{page}: {len(found)} pipeline diagrams"
    return found[0]


def diagram_problems(diagram: str, stages: dict, dag: set, params: dict) -> list[str]:
    """How a pipeline diagram disagrees with dvc.yaml and `dvc dag`."""
    labels = dict(NODE.findall(diagram))
    solid: set[tuple[str, str]] = set()
    problems = []
    for line in diagram.splitlines():
        edge = EDGE.match(line)
        if not edge:
            continue
        src, _, arrow, label, dst = edge.groups()
        if dst not in stages:
            problems.append(f"edge to {dst}, not a stage")
            continue
        deps = paths(stages[dst].get("deps"), params)
        if src in stages:
            if arrow == "-->":
                solid.add((src, dst))
            outs = paths(stages[src].get("outs"), params)
            for word in (w.strip() for w in (label or "").split(",")):
                if re.search(r"\.\w+$", word) and not any(
                    o.endswith(word) and o in deps for o in outs
                ):
                    problems.append(f"{src} -> {dst}: {word} is not its out and dep")
        else:
            name = labels.get(src, src)
            if name == "params.yaml":
                if not stages[dst].get("params"):
                    problems.append(f"params.yaml -> {dst}, which reads no params")
            elif name not in deps:
                problems.append(f"{name} -> {dst}, which does not depend on it")
    expected = {(a, b) for a, b in dag if a != "params"} | {("params", "validate")}
    if solid != expected:
        problems.append(
            f"missing {sorted(expected - solid)}, extra {sorted(solid - expected)}"
        )
    if not re.search(r"params\s+-\.->\|every other stage\|", diagram):
        problems.append("no dashed edge from params to every other stage")
    return problems


@pytest.fixture(scope="module")
def dag() -> set[tuple[str, str]]:
    return dag_edges(run(["dvc", "dag", "--md"], ROOT).stdout)


def test_every_stage_depends_on_the_params_check(dag) -> None:
    others = set(dvc_stages()) - {"params"}
    assert {b for a, b in dag if a == "params"} == others


@pytest.mark.parametrize("page", [README, LEVEL1])
def test_the_pipeline_diagram_is_dvc_dag(page: str, dag) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert not diagram_problems(pipeline_diagram(page), dvc_stages(), dag, params)


def test_the_two_pipeline_diagrams_are_one() -> None:
    assert pipeline_diagram(README) == pipeline_diagram(LEVEL1)


def test_a_diagram_with_a_wrong_edge_is_caught(dag) -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    good = pipeline_diagram(LEVEL1)
    assert not diagram_problems(good, dvc_stages(), dag, params)
    wrong = good.replace("prepare -->|test.parquet| evaluate", "ingest --> evaluate")
    assert wrong != good
    assert diagram_problems(wrong, dvc_stages(), dag, params)
    mislabelled = good.replace("|metrics/drift.json|", "|metrics/metrics.json|")
    assert diagram_problems(mislabelled, dvc_stages(), dag, params)


def rerun_by(key: str, stages: dict, params: dict) -> set[str]:
    """Stages a change of param `key` reruns: those reading it, and what they feed.

    The params check's mark does not change when a valid value does, so what it
    feeds reruns only through the stages that read the param themselves.
    """
    reads = {
        name
        for name, stage in stages.items()
        for p in stage.get("params") or []
        if isinstance(p, str) and (key == p or key.startswith(p + "."))
    }
    todo, found = list(reads), set(reads)
    while todo:
        outs = paths(stages[todo.pop()].get("outs"), params) - {"metrics/params.json"}
        for name, stage in stages.items():
            if name not in found and outs & paths(stage.get("deps"), params):
                found.add(name)
                todo.append(name)
    return found


def test_an_experiment_reruns_the_stages_the_readme_names() -> None:
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    match = re.search(
        r"((?:`\w+`, )*`\w+` and `\w+`) rerun: `params` checks", flat(README)
    )
    assert match, "the README no longer says which stages an experiment reruns"
    named = set(re.findall(r"`(\w+)`", match[1]))
    assert named == rerun_by("train.estimator", dvc_stages(), params)
    # The level-1 tour shows the same stages running.
    shown = re.search(r"## 3\. Params and experiments(.*?)## 4\.", text(LEVEL1), re.S)[
        1
    ]
    assert set(re.findall(r"Running stage '(\w+)'", shown)) == named


# --- the numbers ----------------------------------------------------------------


def printed(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}"


def test_level0_and_the_pipeline_figures_are_the_real_ones() -> None:
    level0 = re.search(r"^test ROC AUC:\s+([0-9.]+)$", text(LEVEL0), re.M)[1]
    pipeline = json.loads((ROOT / "metrics/metrics.json").read_text())["roc_auc"]
    page = flat(LEVELS)
    assert f"prints a test ROC AUC of {level0}" in page
    assert f"The level-1 pipeline prints {printed(pipeline)}" in page
    # The tolerance the page quotes is the one the test uses.
    tolerance = re.search(r"abs=([0-9.]+)\)", text("tests/model/test_level0.py"))[1]
    assert f"ROC AUC within {tolerance}." in page


def test_the_test_split_size_is_the_committed_one() -> None:
    validation = json.loads((ROOT / "metrics/model_validation.json").read_text())
    page = flat(LEVEL2)
    assert (
        f"At month {validation['months']} the test split has "
        f"{validation['test_rows']:,} customers" in page
    )
    assert "about 1,400" not in page


# --- the workflows ---------------------------------------------------------------


def workflows() -> dict[str, dict]:
    return {
        p.name: yaml.safe_load(p.read_text(encoding="utf-8"))
        for p in sorted(WORKFLOWS.glob("*.yml"))
    }


NUMBERS = {3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


def test_the_workflow_count_is_right() -> None:
    count = NUMBERS[len(workflows())]
    assert f"{count.capitalize()} workflows under" in text(README)
    assert f"All {count} workflows are hardened" in text(LEVEL2)
    table = re.findall(
        r"^\| \[`(\w+)`\]\(\.\./\.\./\.github/workflows/\1\.yml\)", text(LEVEL2), re.M
    )
    assert {f"{t}.yml" for t in table} == set(workflows())


def test_ci_runs_on_pushes_to_main_and_pull_requests() -> None:
    on = workflows()["ci.yml"][True]  # YAML 1.1 reads the key `on` as True
    assert on["push"]["branches"] == ["main"] and "pull_request" in on
    for page in (README, LEVELS, LEVEL0, LEVEL2):
        assert not re.search(r"every push(?! to `main`)", flat(page)), page


def test_the_dvc_cache_is_where_the_docs_say() -> None:
    cached = {
        name.removesuffix(".yml")
        for name, flow in workflows().items()
        for job in flow["jobs"].values()
        for step in job.get("steps", [])
        if str(step.get("uses", "")).startswith("actions/cache@")
        and ".dvc/cache" in str(step.get("with", {}).get("path", ""))
    }
    match = re.search(
        r"`(\w+)` and `(\w+)`, `actions/cache` keeps `\.dvc/cache`", flat(LEVEL2)
    )
    assert match and set(match.groups()) == cached


def step_runs(flow: str, step_name: str) -> str:
    for job in workflows()[flow]["jobs"].values():
        for step in job.get("steps", []):
            if step.get("name") == step_name:
                return step["run"]
    raise AssertionError(f"{flow} has no step {step_name!r}")


def test_retrain_and_release_run_the_gate_as_the_map_says() -> None:
    assert 'churn gate --base "$BASE"' in step_runs(
        "retrain.yml", "Quality gate against the current main"
    )
    assert 'churn gate --base "$previous"' in step_runs(
        "release.yml", "Quality gate against the previous release"
    )
    page = flat(LEVELS)
    assert "scheduled retraining runs the quality gate" in page
    assert "a release runs the gate against the previous release tag" in page


# --- the map's figures, diagrams and glossary -------------------------------------


def bench_row(name: str) -> list[str]:
    """The cells of the development-loop row of benchmarks/RESULTS.md named `name`."""
    for line in text("benchmarks/RESULTS.md").splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0].startswith(name):
            return cells
    raise AssertionError(f"no benchmark row {name!r}")


def test_the_costs_quoted_are_the_benchmarks() -> None:
    cold = float(bench_row("dvc repro --force")[1])
    noop = float(bench_row("dvc repro (nothing changed)")[1])
    param = float(bench_row("dvc repro after changing train.")[1])
    floor = float(bench_row("floor: level-0 script")[1])
    single = float(bench_row("every stage's command in one process")[1])
    page = flat(LEVELS)
    assert f"A cold `dvc repro` takes {cold} s." in page
    assert f"takes {noop} s; after changing one training parameter, {param} s." in page
    assert f"the same model in {floor} s, so the cold pipeline" in page
    assert f"takes about {round(cold / floor)} times as long" in page
    assert f"without DVC, takes {single} s" in page


BENCH_README = "benchmarks/README.md"
SERVERS = ("churn serve", "mlflow models serve")


def results_table(heading: str) -> dict[str, list[str]]:
    """The rows of the table under `## heading` in RESULTS.md, by their first cell."""
    sections = text("benchmarks/RESULTS.md").split(f"\n## {heading}\n")
    if len(sections) != 2:
        raise AssertionError(f"no section {heading!r} in benchmarks/RESULTS.md")
    rows = {}
    for line in sections[1].split("\n## ")[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and not cells[0].startswith("---"):
            rows[cells[0]] = cells
    return rows


def serving_figures() -> dict[str, tuple[str, str, str]]:
    """Per server over HTTP: one customer's p50, p99 (ms) and batch rows/s."""
    rows = results_table("Prediction")
    figures = {}
    for server in SERVERS:
        _, p50, p99, _, rate = rows[f"HTTP: {server}"]
        figures[server] = (p50, p99, rate.split(" (")[0])
    return figures


def serving_claims(page: str, figures: dict[str, tuple[str, str, str]]) -> list[str]:
    """The table rows or sentences of `page` that quote the serving figures."""
    if page == LEVEL2:
        return [
            f"| `{server}` | {p50} ms | {p99} ms | {rate} rows/s |"
            for server, (p50, p99, rate) in figures.items()
        ]
    (ours, ours_p99, ours_rate), (theirs, theirs_p99, theirs_rate) = figures.values()
    share = 100 * float(ours) / float(theirs)
    times = float(ours_rate.replace(",", "")) / float(theirs_rate.replace(",", ""))
    return [
        f"`churn serve` answers in {ours} ms at the median (p99 {ours_p99} ms),",
        f"`mlflow models serve` in {theirs} ms (p99 {theirs_p99} ms),",
        f"{share:.1f}% of it against the target of a quarter",
        f"{ours_rate} rows/s against {theirs_rate}, {times:.1f} times",
    ]


def stale_claims(page_text: str, claims: list[str]) -> list[str]:
    flat_text = re.sub(r"[ \t]*\n[ \t]*(?!\|)", " ", page_text)
    return [claim for claim in claims if claim not in flat_text]


@pytest.mark.parametrize("page", [LEVEL2, BENCH_README])
def test_the_serving_figures_quoted_are_the_benchmarks(page: str) -> None:
    assert stale_claims(text(page), serving_claims(page, serving_figures())) == []


def hostile_claims(page: str) -> list[str]:
    """The sentences of `page` that quote the hostile-input figures of RESULTS.md."""
    rows = results_table("Hostile input")
    worst = next(c for name, c in rows.items() if "390,000 unknown keys" in name)
    health = next(c for name, c in rows.items() if name.startswith("GET /health"))
    refused = worst[2].split(" (")[0]
    p50, p99 = re.search(r"p50 ([\d.]+) ms, p99 ([\d.]+) ms", health[2]).groups()
    if page == LEVEL2:
        return [
            f"takes {refused} to refuse",
            f"answered in {p50} ms (p50) and {p99} ms (p99)",
        ]
    return [
        f"is refused with 422 in {refused}",
        f"still answers in {p50} ms at the median (p99 {p99} ms",
    ]


@pytest.mark.parametrize("page", [LEVEL2, BENCH_README])
def test_the_hostile_input_figures_quoted_are_the_benchmarks(page: str) -> None:
    claims = hostile_claims(page)
    assert stale_claims(text(page), claims) == []
    p99 = re.search(r"([\d.]+) ms(?: \(p99\))?$", claims[1]).group(1)
    assert stale_claims(text(page).replace(f"{p99} ms", "99.9 ms"), claims)


def test_a_stale_serving_figure_is_caught() -> None:
    figures = serving_figures()
    p50 = figures["churn serve"][0]
    stale = text(LEVEL2).replace(f"| {p50} ms |", "| 99.99 ms |")
    assert stale_claims(stale, serving_claims(LEVEL2, figures)) == [
        serving_claims(LEVEL2, figures)[0]
    ]


def test_the_month_timeline_has_the_shifts_of_params() -> None:
    batches = yaml.safe_load((ROOT / "params.yaml").read_text())["batches"]
    timeline = next(b for b in mermaid_blocks(LEVELS) if "fibre_price_rise" in b)
    months = re.findall(r"\bm(\d+)\[", timeline)
    assert [int(m) for m in months] == list(range(1, batches["months"] + 1))
    assert f"month {batches['through_month']}<br/>the checkout" in timeline
    for name, month in batches["shifts"].items():
        assert re.search(rf"{name}\b[^\n]*-\.-> m{month}\b", timeline), name


def test_the_release_flow_is_the_workflows_steps_in_order() -> None:
    flow = next(b for b in mermaid_blocks(LEVELS) if "Release from main only" in b)
    boxes = {
        int(n): label.strip('"')
        for n, label in re.findall(r"\bs(\d+)\[([^\]]+)\]", flow)
    }
    steps = [
        s["name"]
        for job in workflows()["release.yml"]["jobs"].values()
        for s in job["steps"]
        if "name" in s
    ]
    assert [boxes[n] for n in sorted(boxes)] == steps


MERMAID_KINDS = ("flowchart", "graph", "gantt", "sequenceDiagram", "timeline")


def mermaid_problems(block: str) -> list[str]:
    """What makes a mermaid block unparsable at a glance: its kind, its brackets."""
    problems = []
    if not block.strip().startswith(MERMAID_KINDS):
        problems.append(
            f"unknown diagram kind: {block.split()[0] if block.split() else ''}"
        )
    for line in block.splitlines():
        bare = re.sub(r'"[^"]*"', "", re.sub(r"\|[^|]*\|", "", line))
        for open_, close in ("[]", "()", "{}"):
            if bare.count(open_) != bare.count(close):
                problems.append(f"unbalanced {open_}{close}: {line.strip()}")
    return problems


def test_every_mermaid_block_parses_at_a_glance() -> None:
    pages = [README, LEVELS, LEVEL0, LEVEL1, LEVEL2]
    found = {page: mermaid_blocks(page) for page in pages}
    assert sum(map(len, found.values())) >= 6
    bad = [
        f"{p}: {e}"
        for p, blocks in found.items()
        for b in blocks
        for e in mermaid_problems(b)
    ]
    assert not bad, "\n".join(bad)
    assert mermaid_problems("flowchart LR\n    a[x --> b\n")
    assert mermaid_problems("pie\n    a : 1\n")


def test_glossary_links_name_a_term_and_each_page_links_it() -> None:
    glossary = text("levels/GLOSSARY.md")
    anchors = {
        re.sub(r"[^\w -]", "", h).strip().lower().replace(" ", "-")
        for h in re.findall(r"^## (.+)$", glossary, re.M)
    }
    for page in (LEVELS, LEVEL0, LEVEL1, LEVEL2):
        used = set(re.findall(r"GLOSSARY\.md#([\w-]+)", text(page)))
        assert used, f"{page} links no glossary term"
        assert used <= anchors, f"{page}: {sorted(used - anchors)}"


IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)|<img[^>]*\bsrc=[\"']([^\"']+)[\"']")
SIGNATURES = {".png": b"\x89PNG\r\n\x1a\n", ".svg": b"<"}


def image_problems(page: Path) -> list[str]:
    """Images `page` shows that are missing or are not what their name says."""
    problems = []
    for match in IMAGE.finditer(page.read_text(encoding="utf-8")):
        href = match[1] or match[2]
        if "://" in href or href.endswith("badge.svg"):
            continue
        target = page.parent / href.split("#")[0]
        if not target.is_file():
            problems.append(f"{page.name}: {href} is missing")
            continue
        signature = SIGNATURES.get(target.suffix.lower())
        head = target.read_bytes()[:8].lstrip()
        if signature is None or not head.startswith(signature):
            problems.append(f"{page.name}: {href} is not a {target.suffix} image")
    return problems


def test_every_image_a_page_shows_exists_and_is_an_image() -> None:
    pages = [ROOT / README, *sorted((ROOT / "levels").rglob("*.md"))]
    bad = [p for page in pages for p in image_problems(page)]
    assert not bad, "\n".join(bad)


def test_a_missing_or_fake_image_is_reported(tmp_path) -> None:
    (tmp_path / "fake.png").write_text("not a png")
    (tmp_path / "real.png").write_bytes(SIGNATURES[".png"] + b"rest")
    page = tmp_path / "page.md"
    page.write_text("![a](real.png) ![b](fake.png) ![c](gone.png)\n")
    assert image_problems(page) == [
        "page.md: fake.png is not a .png image",
        "page.md: gone.png is missing",
    ]


# --- level 1's experiments --------------------------------------------------------


def experiments_table() -> dict[str, dict[str, str]]:
    """The `dvc exp show` excerpt of the tour's section 3: row name -> column -> cell.

    tests/pipeline/test_tutorial.py checks that the excerpt is what DVC prints.
    """
    shown = re.search(r"## 3\. Params and experiments(.*?)## 4\.", text(LEVEL1), re.S)[
        1
    ]
    lines = [line for line in shown.splitlines() if line.startswith("| ")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[1:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = re.sub(r"^[├└]── (?:\.\.\. )?\[(\w+)\]$", r"\1", cells[0])
        rows[name] = dict(zip(head, cells, strict=True))
    return rows


def test_the_experiments_compared_win_on_different_metrics() -> None:
    rows = experiments_table()
    assert {"main", "boosting", "logistic"} <= set(rows)
    logistic = [
        r for r in rows.values() if r["train.estimator"] == "logistic_regression"
    ]
    boosting = rows["boosting"]

    def best(metric: str) -> str:
        return max(rows, key=lambda name: float(rows[name][metric]))

    page = flat(LEVEL1)
    assert "`boosting` has the best PR AUC" in page and best("pr_auc") == "boosting"
    assert "`main`'s logistic regression has the best ROC AUC" in page
    assert best("roc_auc") == "main"
    assert "finds more of the churners at the chosen threshold" in page
    assert all(float(r["recall"]) > float(boosting["recall"]) for r in logistic)
    threshold = yaml.safe_load((ROOT / "params.yaml").read_text())["evaluate"]
    assert f"`evaluate.threshold` {threshold['threshold']}" in page


def test_level1_quotes_the_test_split_size_of_month_4() -> None:
    validation = json.loads((ROOT / "metrics/model_validation.json").read_text())
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert validation["months"] == params["batches"]["through_month"]
    assert f"on {validation['test_rows']:,} test customers" in flat(LEVEL1)


# --- level 2: compare and the gate ------------------------------------------------


def compare_and_gate() -> dict[str, tuple[str, str]]:
    """Level 2's table of `compare` against the gate: row -> (compare, gate)."""
    lines = text(LEVEL2).splitlines()
    start = lines.index("| | `compare` (level 1) | the gate (level 2) |")
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        label, left, right = (c.strip() for c in line.strip("|").split("|"))
        rows[label.strip("*")] = (left, right)
    return rows


def test_the_compare_and_gate_table_names_what_each_reads_and_runs() -> None:
    rows = compare_and_gate()
    assert set(rows) == {
        "asks",
        "compares with",
        "settings",
        "runs",
        "on a worse model",
    }
    stages = dvc_stages()
    # compare reads its own section of the checkout's params; no stage reads gate's.
    assert "`compare:` in the checkout's own `params.yaml`" == rows["settings"][0]
    assert "compare" in stages["compare"]["params"]
    assert not any(
        p == "gate" or str(p).startswith("gate.")
        for stage in stages.values()
        for p in stage.get("params", [])
    )
    assert "the base's `params.yaml`, never the pull request's" in rows["settings"][1]
    assert rows["runs"][0] == "as a stage of every `dvc repro`"
    named = re.findall(r"`(\w+)`", rows["runs"][1].split("in the", 1)[1])
    assert named == ["train", "retrain", "release"]
    for flow in named:
        source = (WORKFLOWS / f"{flow}.yml").read_text()
        assert "make gate" in source or "churn gate" in source, flow


def test_compare_exits_0_on_a_worse_model_and_the_gate_1(
    splits, tmp_path, monkeypatch, caplog
) -> None:
    # The table's last row, run: compare's stage on a model that is clearly worse
    # than the previous one writes "worse", warns, and still exits 0.
    from churn import config, contract, model_io
    from churn.pipeline import compare, train
    from churn.review import rules

    compare_cell, gate_cell = compare_and_gate()["on a worse model"]
    assert "it exits 0 and the pipeline goes on" in compare_cell
    assert "it exits 1" in gate_cell and "it exits 2 when it cannot judge" in gate_cell
    params = config.load_params()
    params["batches"]["through_month"] = 2
    rows, test = splits
    rows = rows.sample(1500, random_state=0).assign(**{contract.MONTH: 1})
    X, y = rows.drop(columns=[contract.TARGET]), rows[contract.TARGET]
    # Trained on the labels upside down: far worse than the model rebuilt from them.
    worse = train.train(X, 1 - y, params=params["train"], seed=params["seed"])
    files = {
        "TRAIN_DATA": tmp_path / "train.parquet",
        "TEST_DATA": tmp_path / "test.parquet",
        "MODEL_FILE": tmp_path / "model.skops",
        "MODEL_VALIDATION": tmp_path / "model_validation.json",
        "COMPARE_METRICS": tmp_path / "compare.json",
    }
    for name, path in files.items():
        monkeypatch.setattr(config, name, path)
    monkeypatch.setattr(config, "load_params", lambda: params)
    rows.to_parquet(files["TRAIN_DATA"])
    test.to_parquet(files["TEST_DATA"])
    model_io.save(worse, files["MODEL_FILE"])
    assert compare.main([]) == 0
    assert json.loads(files["COMPARE_METRICS"].read_text())["verdict"] == "worse"
    assert "is worse than the previous one" in caplog.text
    assert rules.Verdict(False, "regression", "worse").exit_code == 1
    assert rules.cannot_judge("no base").exit_code == 2


# --- every glossary term linked where a page first uses it ------------------------

#: How each glossary term is written in the pages, by its anchor. A term counts
#: where it stands as a word in the text, never inside a longer name (`dvc.yaml`,
#: `model.skops`, `drift.block`).
TERMS = {
    "act": r"act",
    "chi-squared": r"(?i:chi-squared)",
    "cml": r"CML",
    "drift": r"(?i:drift(?:s|ed|ing)?)",
    "dvc": r"DVC",
    "floor": r"(?i:floors?)",
    "gate": r"(?i:gates?)",
    "great-expectations": r"Great Expectations",
    "gto": r"GTO",
    "ks": r"KS|Kolmogorov-Smirnov",
    "psi": r"PSI|(?i:population stability index)",
    "skops": r"(?i:skops)",
    "slice": r"(?i:slices?)",
}
#: Tools whose name is written as code (`act`): a code span that is the name alone
#: is a use. Other terms in code are names of something else: the `drift` stage,
#: the `floor` rule, the `gate:` section of params.yaml.
CODE_TERMS = {"act", "cml", "gto", "skops"}
GLOSSARY_PAGES = (README, LEVELS, LEVEL0, LEVEL1, LEVEL2)


def _term(anchor: str) -> re.Pattern:
    return re.compile(rf"(?<![\w./-])(?:{TERMS[anchor]})(?![\w-]|\.\w)")


def first_uses(page_text: str) -> dict[str, tuple[int, str | None]]:
    """Each glossary term's first use in a page: (line, the link it sits in).

    Headings, code blocks and HTML are not prose and are skipped.
    """
    from markdown_it import MarkdownIt

    tokens = MarkdownIt("commonmark").enable("table").parse(page_text)
    found: dict[str, tuple[int, str | None]] = {}
    heading = False
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            heading = token.type == "heading_open"
        if token.type != "inline" or heading:
            continue
        line = token.map[0] + 1 if token.map else 0
        links: list[str] = []
        for child in token.children or []:
            if child.type == "link_open":
                links.append(str(child.attrs["href"]))
            elif child.type == "link_close":
                links.pop()
            elif child.type in ("softbreak", "hardbreak"):
                line += 1
            elif child.type in ("text", "code_inline"):
                for anchor in TERMS:
                    if anchor in found:
                        continue
                    hit = _term(anchor).search(child.content)
                    if child.type == "code_inline" and not (
                        anchor in CODE_TERMS and hit and hit.group() == child.content
                    ):
                        continue
                    if hit:
                        found[anchor] = (line, links[-1] if links else None)
    return found


def unlinked_first_uses(page: str, page_text: str) -> list[str]:
    """`page:line: term` for each term whose first use does not link the glossary."""
    return [
        f"{page}:{line}: {anchor} (first use links to {link or 'nothing'})"
        for anchor, (line, link) in sorted(first_uses(page_text).items())
        if link is None or not link.endswith(f"GLOSSARY.md#{anchor}")
    ]


def test_glossary_terms_are_the_glossary_headings() -> None:
    headings = re.findall(r"^## (.+)$", text("levels/GLOSSARY.md"), re.M)
    assert {h.lower().replace(" ", "-") for h in headings} == set(TERMS)


@pytest.mark.parametrize("page", GLOSSARY_PAGES)
def test_each_glossary_term_links_the_glossary_where_first_used(page: str) -> None:
    assert unlinked_first_uses(page, text(page)) == []


def test_a_term_used_before_its_link_is_reported() -> None:
    page = (
        "# DVC is in a heading, which does not count\n\n"
        "The `drift` stage finds [drift](GLOSSARY.md#drift) with `dvc.yaml`.\n\n"
        "```bash\nact pull_request\n```\n\n"
        "Then DVC runs it, and [DVC](GLOSSARY.md#dvc) again; `act` runs the\n"
        "workflow. [Gates](https://example.com/gates) and the\n"
        "[gate](GLOSSARY.md#gate). `model.skops` is a file.\n"
    )
    assert unlinked_first_uses("p.md", page) == [
        "p.md:9: act (first use links to nothing)",
        "p.md:9: dvc (first use links to nothing)",
        "p.md:10: gate (first use links to https://example.com/gates)",
    ]
    assert set(first_uses(page)) == {"act", "drift", "dvc", "gate"}
