"""Render benchmark results (the dict `run.py` writes as JSON) as text and Markdown."""

from __future__ import annotations

from typing import Any

Rows = list[list[str]]


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _label(size: dict[str, Any]) -> str:
    name = f"{size['rows']:,}"
    return f"{name} (bundled)" if size["size"] == "bundled" else name


def _reference(results: dict[str, Any]) -> dict[str, Any]:
    """The direct run that splits the cold run's stages: bundled data if measured."""
    runs = results["scale"]
    return next((s for s in runs if s["size"] == "bundled"), runs[0])


def targets_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """Each target, its figures and whether it was met."""
    rows = [
        [t["target"], t["value"], "met" if t["met"] else "MISSED"]
        for t in results["targets"]
    ]
    return ["target", "measured", ""], rows


def cold_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """The cold run per stage, split into imports and work by the direct run."""
    cold = results["cold"]
    ref = _reference(results)
    head = [
        "stage",
        "in dvc repro (s)",
        f"direct run (s, {ref['rows']:,} rows)",
        "CPU (s)",
        "imports (s)",
        "work (s)",
        "peak memory (MB)",
        "largest imports (s)",
    ]
    rows = [["DVC startup", _s(cold["startup_s"]), "", "", "", "", "", ""]]
    for name, dvc_s in cold["stages_s"].items():
        direct = ref["stages"].get(name)
        if direct is None:
            rows.append([name, _s(dvc_s), "-", "-", "-", "-", "-", ""])
            continue
        rows.append(
            [
                name,
                _s(dvc_s),
                _s(direct["wall_s"]),
                _s(direct["cpu_s"]),
                _s(direct["import_s"]),
                _s(direct["work_s"]),
                _mb(direct["peak_rss_mb"]),
                ", ".join(f"{n} {t:.1f}" for n, t in direct.get("top_imports", [])),
            ]
        )
    stages = [ref["stages"][n] for n in cold["stages_s"] if n in ref["stages"]]
    imports = sum(s["import_s"] for s in stages)
    work = sum(s["work_s"] for s in stages)
    rows.append(
        [
            "total",
            _s(cold["wall_s"]),
            _s(sum(s["wall_s"] for s in stages)),
            _s(sum(s["cpu_s"] for s in stages)),
            _s(imports),
            _s(work),
            _mb(max((s["peak_rss_mb"] for s in stages), default=None)),
            "",
        ]
    )
    return head, rows


def loop_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """Cold, no-op, incremental and the one-process floor side by side."""
    cold = results["cold"]
    rows = [
        [
            cold["command"],
            _s(cold["wall_s"]),
            "100%",
            _s(cold["cpu_s"]),
            "100%",
            ", ".join(cold["ran"]),
        ]
    ]
    for key in ("noop", "incremental"):
        run = results[key]
        rows.append(
            [
                run["command"],
                _s(run["wall_s"]),
                _pct(run["ratio_to_cold"]),
                _s(run["cpu_s"]),
                _pct(run["cpu_ratio_to_cold"]),
                ", ".join(run["ran"]) or "(none)",
            ]
        )
    floor = results["floor"]
    rows.append(
        [
            f"floor: {floor['kind']}",
            _s(floor["wall_s"]),
            _pct(floor["wall_s"] / cold["wall_s"]),
            _s(floor["cpu_s"]),
            _pct(floor["cpu_s"] / cold["cpu_s"]),
            f"one process; {floor['import_s']:.1f} s of it importing",
        ]
    )
    one = results.get("one_process") or {}
    if "wall_s" in one and floor["kind"] == "level-0 script":
        rows.append(
            [
                "every stage's command in one process, no DVC",
                _s(one["wall_s"]),
                _pct(one["wall_s"] / cold["wall_s"]),
                _s(one["cpu_s"]),
                _pct(one["cpu_s"] / cold["cpu_s"]),
                f"one process; {one['import_s']:.1f} s of it importing",
            ]
        )
    head = ["run", "wall (s)", "of cold", "CPU (s)", "CPU of cold", "stages run"]
    return head, rows


def scale_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """Wall time and peak memory per stage at every size."""
    sizes = results["scale"]
    head = ["stage"] + [f"{_label(s)} rows: wall s / CPU s / MB" for s in sizes]
    growth = results.get("growth")
    if growth:
        head.append(f"time x ({growth['from_rows']:,} -> {growth['to_rows']:,})")
    names = list(sizes[-1]["stages"])
    rows = []
    for name in names:
        row = [name]
        for size in sizes:
            stage = size["stages"].get(name)
            row.append(
                "-"
                if stage is None
                else f"{_s(stage['wall_s'])} / {_s(stage['cpu_s'])} / "
                f"{_mb(stage['peak_rss_mb'])}"
            )
        if growth:
            ratio = growth["stages"].get(name)
            row.append("-" if ratio is None else f"{ratio:.2f}")
        rows.append(row)
    total = ["whole pipeline"] + [
        f"{_s(s['wall_s'])} / {_s(s['cpu_s'])} / {_mb(s['peak_rss_mb'])}" for s in sizes
    ]
    if growth:
        total.append(f"{growth['time_ratio']:.2f}")
    rows.append(total)
    return head, rows


def validation_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """The validate stage's throughput, and the project's check beside bare GX."""
    rows = []
    for s in results["scale"]:
        if "validation_rows_per_s" not in s:
            continue
        side = s.get("validation") or {}
        rows.append(
            [
                _label(s),
                _s(s["stages"]["validate"]["work_s"]),
                f"{s['validation_rows_per_s']:,.0f}",
                _s(side.get("read_s")),
                _s(side.get("check_s")),
                _s(side.get("bare_gx_s")),
                f"{side['read_and_check_ratio']:.2f}" if side else "",
            ]
        )
    head = [
        "rows",
        "validate stage work (s)",
        "rows/s",
        "read once (s)",
        "project's check (s)",
        "bare GX, same expectations (s)",
        "(read + check) / bare GX",
    ]
    return head, rows


def prediction_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """Latency and throughput of predictions, in process and over HTTP."""
    pred = results["prediction"]
    paths = [
        (
            "in process: pipeline.predict_proba (DataFrame)",
            pred["in_process"]["sklearn_dataframe"],
        ),
        ("in process: churn.delivery.scorer", pred["in_process"]["scorer"]),
        ("HTTP: churn serve", pred["http"]),
        ("HTTP: mlflow models serve", pred["mlflow"]),
    ]
    if "http_logged" in pred:
        paths.insert(3, ("HTTP: churn serve --log-dir (logging)", pred["http_logged"]))
    rows = []
    for label, figures in paths:
        if "skipped" in figures:
            rows.append([label, "-", "-", "-", f"skipped: {figures['skipped']}"])
            continue
        single, batch = figures["single"], figures["batch"]
        rows.append(
            [
                label,
                f"{single['p50_ms']:.2f}",
                f"{single['p99_ms']:.2f}",
                f"{batch['p50_ms']:.1f}",
                f"{batch['rows_per_s']:,.0f} ({batch['rows']:,} rows)",
            ]
        )
    head = [
        "path",
        "one customer p50 (ms)",
        "p99 (ms)",
        "batch p50 (ms)",
        "batch rows/s",
    ]
    return head, rows


def hostile_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """How fast the service refuses the worst bodies, and /health meanwhile."""
    found = (results.get("prediction") or {}).get("hostile")
    if not found:
        return [], []
    rows = [
        [
            f"refuse: {name} ({figures['bytes'] / 1e6:.1f} MB)",
            ", ".join(map(str, figures["statuses"])),
            f"{figures['median_s'] * 1e3:,.0f} ms (median)",
        ]
        for name, figures in found["refusals"].items()
    ]
    bursts = {"the worst body": found["health_under_burst"]}
    bursts.update(found.get("health_under_crafted") or {})
    for name, burst in bursts.items():
        rows.append(
            [
                f"GET /health while {burst['senders']} clients send {name}",
                "200",
                f"p50 {burst['p50_ms']:.1f} ms, p99 {burst['p99_ms']:.1f} ms, "
                f"max {burst['max_ms']:.1f} ms ({burst['probes']} probes)",
            ]
        )
    return ["request", "status", "time"], rows


def monitoring_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """What the prediction log costs the service, and what `churn monitor` costs."""
    pred = results.get("prediction") or {}
    rows = []
    if "log_overhead" in pred:
        over = pred["log_overhead"]
        rows.append(
            [
                "churn serve --log-dir vs without, same run, taking turns",
                f"one customer p50 x{over['single_p50_ratio']:.2f}",
                f"batch rows/s x{over['batch_throughput_ratio']:.2f}",
            ]
        )
    if "monitor" in pred:
        mon = pred["monitor"]
        rows.append(
            [
                f"churn monitor on {mon['rows']:,} logged customers",
                f"{mon['wall_s']:.1f} s, {mon['rows_per_s']:,.0f} rows/s",
                f"peak {mon['peak_rss_mb']:,.0f} MB",
            ]
        )
    return ["measure", "figure", "figure"], rows


#: Largest file kept in git that the outputs target allows, at any number of rows.
GIT_OUTPUT_LIMIT_KB = 100


def outputs_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """Size of the outputs kept in git (`cache: false`) at every size, and whether
    the largest size keeps each under the target; then those in the DVC cache
    beside them, which meet it by not being in git."""
    sizes = results["scale"]
    rows = []
    for path, largest in sizes[-1].get("git_outputs_kb", {}).items():
        verdict = "met" if largest <= GIT_OUTPUT_LIMIT_KB else "MISSED"
        rows.append(
            [path]
            + [_mb(s.get("git_outputs_kb", {}).get(path)) for s in sizes]
            + [f"<= {GIT_OUTPUT_LIMIT_KB} KB: {verdict}"]
        )
    for path in sizes[-1].get("cached_outputs_kb", {}):
        rows.append(
            [f"{path} (DVC cache)"]
            + [_mb(s.get("cached_outputs_kb", {}).get(path)) for s in sizes]
            + ["not in git: met"]
        )
    head = ["file kept in git"] + [f"{_label(s)} rows (KB)" for s in sizes]
    return [*head, f"target at {_label(sizes[-1])} rows"], rows


def review_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """The pull-request report's steps on a one-param change, against `HEAD`."""
    review = results.get("review") or {"steps": {}}
    rows = [
        [
            f"`{step['command']}`",
            _s(step["wall_s"]),
            _s(step["cpu_s"]),
            _s(step["import_s"]),
            str(step["exit"]),
        ]
        for step in review["steps"].values()
    ]
    if rows:
        rows.append(["total", _s(review["wall_s"]), "", "", ""])
    return ["step", "wall (s)", "CPU (s)", "imports (s)", "exit"], rows


def actpr_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """train.yml under act on a neutral pull request, per step, next to the run
    its target is measured against."""
    act = results.get("actpr")
    before = (act or {}).get("before") or {"steps": {}, "wall_s": None}
    head = ["step", "seconds", f"the {_s(before['wall_s'])} s run before (s)"]
    if not act:
        return head, []
    rows = [
        [step["step"], _s(step["wall_s"]), _s(before["steps"].get(step["make"]))]
        for step in act["steps"]
    ]
    steps = sum(step["wall_s"] for step in act["steps"])
    rows.append(
        [
            "act itself: setting up and cleaning up the job, between steps",
            _s(act["wall_s"] - steps),
            _s(before["wall_s"] - sum(before["steps"].values())),
        ]
    )
    rows.append(["total", _s(act["wall_s"]), _s(before["wall_s"])])
    rows.append(
        [
            "the same run just before, which builds the virtualenv and caches it",
            _s(act["warm_up_s"]),
            "",
        ]
    )
    pip = act["pip"]
    rows.append(
        [
            f"make install's files: {pip['downloaded']} downloaded, {pip['local']} "
            f"on disk, {pip['cached']} from pip's cache",
            "",
            "",
        ]
    )
    return head, rows


def suite_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """The test suite per folder, from `make bench-suite` (benchmarks/suite.json)."""
    suite = results.get("suite")
    head = ["test folder", "tests", "failed", "seconds (its tests, summed)"]
    if not suite:
        return head, []
    rows = [
        [name, str(f["tests"]), str(f["failed"]), _s(f["seconds"])]
        for name, f in suite["folders"].items()
    ]
    summed = sum(f["seconds"] for f in suite["folders"].values())
    wall = suite.get("wall_s")
    run = f"pytest {suite['pytest_flags']}, " if suite.get("pytest_flags") else ""
    rows.append(
        [
            f"whole suite ({run}{suite.get('cores', '?')} cores, commit "
            f"`{suite.get('commit', '?')[:12]}`)"
            + (f", wall {_s(wall)} s" if wall else ""),
            str(suite["tests"]),
            str(suite["failed"]),
            _s(summed),
        ]
    )
    slowest = suite["slowest_file"]
    rows.append([f"slowest file: `{slowest['path']}`", "", "", _s(slowest["seconds"])])
    return head, rows


def profile_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """The functions with the most cumulative time in the profiled stage."""
    prof = results.get("profile") or {}
    rows = [
        [
            f["function"],
            str(f["calls"]),
            _s(f["cumulative_s"]),
            _s(f["own_s"]),
            _pct(f["share"]),
        ]
        for f in prof.get("cumulative", [])
    ]
    return ["function", "calls", "cumulative (s)", "own (s)", "share"], rows


def profile_own_rows(results: dict[str, Any]) -> tuple[list[str], Rows]:
    """The functions with the most own time in the profiled stage."""
    prof = results.get("profile") or {}
    rows = [
        [f["function"], str(f["calls"]), _s(f["own_s"]), _pct(f["share"])]
        for f in prof.get("own", [])
    ]
    return ["function", "calls", "own (s)", "share"], rows


SECTIONS = (
    ("Targets", targets_rows),
    ("Cold run per stage", cold_rows),
    ("The development loop", loop_rows),
    ("Pull-request report", review_rows),
    ("Pull request under act", actpr_rows),
    ("Scaling (each stage's command run directly)", scale_rows),
    ("Validation throughput", validation_rows),
    ("Outputs kept in git", outputs_rows),
    ("Prediction", prediction_rows),
    ("Hostile input", hostile_rows),
    ("Prediction log and monitor", monitoring_rows),
    ("Test suite", suite_rows),
    ("Profile: cumulative time", profile_rows),
    ("Profile: own time", profile_own_rows),
)


def text_grid(head: list[str], rows: Rows) -> str:
    """A plain-text table with aligned columns."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def md_grid(head: list[str], rows: Rows) -> str:
    """A Markdown table."""
    cells = [head, ["---"] * len(head), *rows]
    return "\n".join(
        "| " + " | ".join(c.replace("|", "/") for c in r) + " |" for r in cells
    )


def table(results: dict[str, Any]) -> str:
    """Every section as plain-text tables, for the terminal."""
    parts = []
    for title, rows_of in SECTIONS:
        head, rows = rows_of(results)
        if rows:
            parts.append(f"{title}\n{text_grid(head, rows)}")
    return "\n\n".join(parts)


def _machine(results: dict[str, Any]) -> str:
    m = results["machine"]
    packages = ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v)
    load = ", ".join(f"{x:.1f}" for x in m["load_average"])
    load_end = ", ".join(f"{x:.1f}" for x in m.get("load_average_end", []))
    return (
        f"- CPU: {m['cpu']}, {m['cores']} cores available; memory {m['memory_gb']} GB\n"
        f"- {m['os']}, Python {m['python']}\n"
        f"- {packages}\n"
        f"- Load average (1, 5, 15 min) at the start: {load}; at the end: {load_end}"
    )


def _context(results: dict[str, Any]) -> str:
    m = results["machine"]
    text = (
        f"Measured on {m['cores']} cores. Absolute times depend on the machine and on "
        "whatever else it runs (see the load average below: a load above the number "
        "of cores means other jobs competed for them); the ratios between runs of one "
        "benchmark are the more portable part."
    )
    note = results["config"].get("note")
    return f"{note}\n\n{text}" if note else text


def _findings(results: dict[str, Any]) -> list[str]:
    """Where the time goes, stated from the figures."""
    out = []
    cold = results["cold"]
    ref = _reference(results)
    stages = [ref["stages"][n] for n in cold["stages_s"] if n in ref["stages"]]
    imports = sum(s["import_s"] for s in stages)
    direct = sum(s["wall_s"] for s in stages)
    out.append(
        f"On the bundled data, {imports:.1f} s of the {direct:.1f} s the stages take "
        f"when run directly ({imports / direct:.0%}) is Python importing modules; "
        f"the cold `dvc repro` took {cold['wall_s']:.1f} s in all, "
        f"{cold['startup_s']:.1f} s of it before DVC started the first stage."
    )
    one = results.get("one_process") or {}
    floor = results["floor"]
    if "wall_s" in one and floor["kind"] == "level-0 script":
        out.append(
            f"Every stage's command in one process, without DVC, takes "
            f"{one['wall_s']:.1f} s ({one['import_s']:.1f} s of it importing), so "
            f"{cold['wall_s'] - one['wall_s']:.1f} s of the cold run is a process "
            "per command importing its libraries again, plus DVC's own bookkeeping. "
            f"The level-0 script takes {floor['wall_s']:.1f} s: it trains the same "
            "model but does none of the validation, drift check, comparison with "
            "the previous model, permutation importance or plots."
        )
    largest = results["scale"][-1]
    slowest = max(largest["stages"], key=lambda n: largest["stages"][n]["wall_s"])
    share = largest["stages"][slowest]["wall_s"] / largest["wall_s"]
    out.append(
        f"At {largest['rows']:,} rows the slowest stage is `{slowest}`: "
        f"{largest['stages'][slowest]['wall_s']:.1f} s of "
        f"{largest['wall_s']:.1f} s ({share:.0%})."
    )
    big = {p: kb for p, kb in largest.get("git_outputs_kb", {}).items() if kb > 1024}
    if big:
        files = ", ".join(f"`{p}` {kb / 1024:.1f} MB" for p, kb in big.items())
        out.append(
            f"At {largest['rows']:,} rows some outputs kept in git pass 1 MB: {files}."
        )
    prof = results.get("profile") or {}
    if prof.get("cumulative"):
        ours = [
            f"`{f['function']}` {f['share']:.0%}"
            for f in prof["cumulative"]
            if "(churn/" in f["function"]
        ]
        own = [f"`{f['function']}` {f['share']:.0%}" for f in prof["own"][:3]]
        out.append(
            f"Profile of `{prof['stage']}` at {prof['rows']:,} rows "
            f"({prof['profiled_s']:.1f} s under cProfile): the project's functions "
            f"hold {', '.join(ours) or 'no large share'} of it; most time of their "
            f"own: {', '.join(own)}."
        )
    return out


METHOD = """\
- Every run happens in a scratch clone of the committed repository; the stages and
  their commands come from `dvc repro --dry`, so a new stage in `dvc.yaml` is measured
  without changing the benchmark.
- **Cold**: `dvc repro --force` in a fresh clone with an empty DVC cache (a plain
  `dvc repro` in a fresh clone skips `drift`, whose committed report already matches
  the rebuilt data, and `compare` where the CPU rebuilds the model to the byte;
  `--force` makes every stage run). Per-stage times run from one "Running stage" line
  of DVC's output to the next, so they include DVC's hashing and caching of that
  stage's outputs.
- **Imports vs work**: each stage's command is also run directly with
  `PYTHONPROFILEIMPORTTIME=1`; the sum of the self times it reports is the time spent
  importing (including lazy imports such as Great Expectations inside `validate`),
  the rest of the wall time is work. Peak memory is the process's maximum resident
  set size, read with `wait4`.
- **No-op**: `dvc repro` again with nothing changed. **Incremental**: `dvc repro` after
  setting the estimator's first real-valued parameter in `params.yaml` to a value
  never used before (so DVC's run cache cannot restore it).
- **Floor**: `levels/0-manual/train_churn.py`, the same data, preprocessing and
  model trained by hand in one process (no validation, drift, comparison, importance
  or plots). **One process**: every stage's command from `dvc repro --dry` called as
  its module's `main(argv)`, in order, in one Python process without DVC: the
  pipeline's own work with each library imported once. The cold run minus this is
  what separate processes and DVC cost.
- **Scaling**: the bundled 7,043 rows and synthetic batches (`benchmarks/scale.py`):
  customers drawn with replacement by a seeded RNG, `customer_id` renumbered,
  `tenure` moved by up to 2 months (never into or out of 0), `monthly_charges`
  jittered by a factor from N(1, 0.03), `total_charges` recomputed from each drawn
  customer's own ratio to monthly x tenure and kept blank exactly for tenure 0; all
  bounds come from `src/churn/contract.py`. Each batch is cut into as many months as
  keep each at the contract's row floor (at most the configured seven), all of them
  included and the simulated shifts off (a 25% fibre price rise on jittered charges
  would cross the contract's bound), and must pass the pipeline's own `validate`
  stage, or the benchmark stops. The growth target allows 1.2 x the row
  ratio (12 for 100k -> 1M).
- **Pull-request report** (`benchmarks/review.py`): `churn report` then `churn gate
  --verdict report.json` against `HEAD`, in the clone the incremental runs left
  retrained with another train parameter (a one-param pull request), as `train.yml`
  runs them after `dvc repro`; the fastest of the repetitions.
- **Pull request under act** (`benchmarks/actpr.py`, not in tiny mode): a clone whose
  `pr` branch adds a line to `README.md`, which nothing the pipeline reads, and
  `.github/workflows/train.yml` run on it by `act` in host mode as
  `tests/workflows/actrun.py` runs it, with the stand-in actions and a cold DVC cache.
  Each run starts without a virtualenv, at the same path. The first run's cache of
  the virtualenv misses: its `make install` builds one from the lock, from every file
  of the lock fetched once into the work folder (`PIP_FIND_LINKS`, `PIP_NO_INDEX`)
  and with pip's cache (`PIP_CACHE_DIR`) for the wheels it builds, and the job saves
  it. The second run, the one measured, restores it by its exact key, as a pull
  request restores the one main's push saved. Each step's time is the one act prints
  as the step ends; the total is the act run's wall time. A run that fails, or a
  cache that did not miss then hit, stops the benchmark; a run in which pip
  downloaded a file does not meet the target.
- **Validation throughput**: rows divided by the `validate` stage's work time (reading
  the CSV plus running the Great Expectations checkpoint and Data Docs; the stage
  validates the newest month, then the whole table). Beside it
  (`benchmarks/validation.py`, one process per size): the batch read once by the
  strict reader, the project's check of the table (`validate.check_table`), and bare
  Great Expectations (an ephemeral context, the same expectations from
  `churn.data.expectations.build()`, the same result format) on the same table,
  alternating, the fastest of two rounds each.
- **Prediction** (`benchmarks/serving.py`, on the model the cold run trained): one
  customer per call, each call a different customer, p50 and p99 over 300 calls (50
  in tiny mode); a batch of 1,000 customers per call (200), rows/s of the median of
  50 calls (5). In process:
  the fitted pipeline's `predict_proba` on a DataFrame, and
  `churn.delivery.scorer` on plain rows. Over HTTP, on one kept-alive loopback
  connection: `churn serve` on the packaged model (`POST /predict`, the customers
  as ingested) and
  `mlflow models serve --env-manager local` on the same fitted pipeline saved with
  `mlflow.sklearn.save_model(..., pyfunc_predict_fn="predict_proba")`
  (`POST /invocations`, `dataframe_split` of the cleaned rows), each with its default
  logging. Both services run at once and take turns in five blocks of requests, so
  a change in the machine's load falls on both alike. Every path's probabilities
  for the batch are compared with the pipeline's own `predict_proba`.
- **Profile**: the stage with the most work at the largest size up to 100,000 rows
  (`--profile-rows`), run again under cProfile; the import machinery is left out of
  the cumulative list because imports are measured above.
- **Test suite**: `make bench-suite` runs the whole suite once as `make test` does
  (one worker per core, a test file per worker) with pytest's JUnit report; per
  folder, its tests' seconds with their setup and teardown, summed, so the folders
  add up to more than the wall time (`benchmarks/suite.py`, `suite.json`).
- Repeated figures are the fastest of their runs (on a shared machine other jobs
  only ever add time); the 100k and 1M runs are single runs. A benchmark, not a
  test: nothing here is asserted."""


def markdown(results: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    cfg = results["config"]
    sizes = ", ".join(_label(s) for s in results["scale"])
    parts = [
        "# Benchmark results",
        "",
        "What the level-1 pipeline costs, how it scales and where the time goes. "
        "Written by `benchmarks/run.py` "
        f"(mode `{cfg.get('mode', 'default')}`: sizes {sizes}; "
        f"{cfg['repeats']} repetition(s) of the runs on the bundled data; "
        f"commit `{cfg['commit'][:12]}`; the whole benchmark took "
        f"{cfg.get('benchmark_s', 0) / 60:.1f} min). "
        "Regenerate with `make bench`.",
        "",
        "## Machine",
        "",
        _context(results),
        "",
        _machine(results),
        "",
        "## Where the time goes",
        "",
        *[f"- {line}" for line in _findings(results)],
    ]
    for title, rows_of in SECTIONS:
        head, rows = rows_of(results)
        if rows:
            parts += ["", f"## {title}", "", md_grid(head, rows)]
    parts += ["", "## Method", "", METHOD, ""]
    return "\n".join(parts)
