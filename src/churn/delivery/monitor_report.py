"""`monitor.md` and its PNG plots, from the result `churn monitor` computed.

The plots are Vega-Lite specs rendered without a browser, as the pull-request report
renders its own (`churn.review.plots.render_png`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from churn.review import plots, sections

log = logging.getLogger(__name__)

MARK = {"healthy": "✅ healthy", "retrain": "⚠️ retraining recommended"}
PLOTS = {
    "drift": "feature-drift-psi.png",
    "scores": "score-distribution.png",
    "calibration": "realised-calibration.png",
}
_WIDTH = 420


def _number(value: Any, digits: int = 4) -> str:
    if value is None or value != value:
        return sections.DASH
    return f"{value:.{digits}f}"


def drift_spec(features: dict[str, dict[str, Any]], psi: float) -> dict[str, Any]:
    """PSI per feature, largest first, with the threshold drawn as a rule."""
    rows = [
        {"feature": n, "psi": s["psi"], "drift": "drifted" if s["drift"] else "no"}
        for n, s in features.items()
    ]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "Feature drift of the traffic (PSI against the training data)",
        "width": _WIDTH,
        "layer": [
            {
                "data": {"values": rows},
                "mark": "bar",
                "encoding": {
                    "y": {"field": "feature", "type": "nominal", "sort": "-x"},
                    "x": {"field": "psi", "type": "quantitative", "title": "PSI"},
                    "color": {
                        "field": "drift",
                        "type": "nominal",
                        "scale": {
                            "domain": ["drifted", "no"],
                            "range": ["#d62728", "#4c78a8"],
                        },
                    },
                },
            },
            {
                "data": {"values": [{"psi": psi}]},
                "mark": {"type": "rule", "strokeDash": [4, 4]},
                "encoding": {"x": {"field": "psi", "type": "quantitative"}},
            },
        ],
    }


def scores_spec(bins: list[dict[str, Any]]) -> dict[str, Any]:
    """Share of customers per score bin: the test split against the served traffic."""
    rows = [
        {"bin": b["bin"], "order": i, "source": source, "share": b[key]}
        for i, b in enumerate(bins)
        for source, key in (("test split", "reference"), ("served", "served"))
    ]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "Churn probability: test split against served traffic",
        "width": _WIDTH,
        "data": {"values": rows},
        "mark": "bar",
        "encoding": {
            "x": {
                "field": "bin",
                "type": "ordinal",
                "sort": {"field": "order"},
                "title": "churn probability (test-split deciles)",
            },
            "xOffset": {"field": "source"},
            "y": {"field": "share", "type": "quantitative", "title": "share"},
            "color": {"field": "source", "type": "nominal"},
        },
    }


def calibration_spec(points: list[dict[str, float]]) -> dict[str, Any]:
    """Observed churn share against mean served probability, with the diagonal."""
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "Calibration of the served predictions",
        "width": _WIDTH,
        "height": _WIDTH,
        "layer": [
            {
                "data": {"values": [{"p": 0, "o": 0}, {"p": 1, "o": 1}]},
                "mark": {"type": "line", "strokeDash": [4, 4], "color": "gray"},
                "encoding": {
                    "x": {"field": "p", "type": "quantitative"},
                    "y": {"field": "o", "type": "quantitative"},
                },
            },
            {
                "data": {"values": points},
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "x": {
                        "field": "predicted",
                        "type": "quantitative",
                        "title": "mean predicted probability",
                    },
                    "y": {
                        "field": "observed",
                        "type": "quantitative",
                        "title": "observed churn share",
                    },
                },
            },
        ],
    }


def specs(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Vega-Lite spec of each plot the result has data for, by PLOTS key."""
    out = {}
    if result.get("features"):
        out["drift"] = drift_spec(result["features"], result["thresholds"]["psi"])
    if (result.get("prediction") or {}).get("bins"):
        out["scores"] = scores_spec(result["prediction"]["bins"])
    if (result.get("performance") or {}).get("calibration"):
        out["calibration"] = calibration_spec(result["performance"]["calibration"])
    return out


def _features_table(features: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| feature | PSI | test | statistic | p-value | drift |",
        "|---|---:|---|---:|---:|---|",
    ]
    for name, s in sorted(features.items(), key=lambda kv: (-kv[1]["psi"], kv[0])):
        lines.append(
            f"| {name} | {_number(s['psi'])} | {s['test']} | "
            f"{_number(s['statistic'])} | {s['p_value']:.2g} | "
            f"{'**yes**' if s['drift'] else 'no'} |"
        )
    return "\n".join(lines)


def _refused(refused: dict[str, Any]) -> str:
    if not refused.get("requests"):
        return "No request was refused."
    rows = sorted(refused["rules"].items(), key=lambda kv: (-kv[1], kv[0]))
    lines = [
        f"{refused['requests']} request(s) broke the data contract and got a 4xx:",
        "",
        "| rule broken (field: error) | requests |",
        "|---|---:|",
    ]
    return "\n".join(lines + [f"| `{rule}` | {count} |" for rule, count in rows])


def markdown(result: dict[str, Any], images: dict[str, str]) -> str:
    """The monitor report as Markdown; `images` maps PLOTS keys to file names."""
    verdict = result["verdict"]
    head = MARK.get(verdict, "❌ cannot judge")
    lines = [f"# Monitor: {head}", ""]
    model = result.get("model") or {}
    if model:
        served = ", ".join(f"{v} ({n})" for v, n in model["served"].items())
        lines += [
            f"Judged by model {model['version']}; scored by: {served or '–'}.",
            "",
        ]
    lines += [f"- {reason}" for reason in result["reasons"]] or ["- Nothing to act on."]
    info = result.get("log")
    if info:
        lost = info["lost"]
        lines += [
            "",
            f"**Window:** {result['rows']} scored customer(s), {info['first']} to "
            f"{info['last']}, from {info['files']} log file(s) of {info['lines']} "
            f"line(s). Skipped: {info['skipped_lines']} incomplete line(s), "
            f"{info['bad_customers']} customer(s) with values outside the contract. "
            f"Not written by the service: {lost['records']} record(s), "
            f"{lost['customers']} customer(s).",
        ]
    if result.get("features"):
        lines += ["", "## Feature drift", "", _features_table(result["features"])]
    pred = result.get("prediction")
    if pred:
        lines += [
            "",
            "## Prediction drift",
            "",
            f"Served scores against the test split's: PSI {_number(pred['psi'])}, "
            f"KS statistic {_number(pred['statistic'])} (p {pred['p_value']:.2g}); "
            f"mean {_number(pred['mean'], 3)} against "
            f"{_number(pred['reference_mean'], 3)}. "
            + ("**Drifted.**" if pred["drift"] else "No drift."),
        ]
    if "refused" in result:
        lines += ["", "## Refused requests", "", _refused(result["refused"])]
    perf = result.get("performance")
    if perf:
        test = perf["test"]
        lines += [
            "",
            "## Realised performance",
            "",
            f"{perf['rows']} served customer(s) with a known outcome: ROC AUC "
            f"{_number(perf['value'])} (95% interval [{_number(perf['low'])}, "
            f"{_number(perf['high'])}]), test split {_number(test['value'])} "
            f"[{_number(test['low'])}, {_number(test['high'])}]; mean calibration "
            f"gap {_number(perf['calibration_gap'], 3)}.",
        ]
    if images:
        lines += ["", "## Plots", ""]
        lines += [f"![{key}]({name})" for key, name in images.items()]
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], out: Path) -> Path:
    """Write `monitor.md` and its plots into `out`; return the Markdown file."""
    images = {}
    for name in PLOTS.values():
        (out / name).unlink(missing_ok=True)  # a plot of an earlier run
    for key, spec in specs(result).items():
        (out / PLOTS[key]).write_bytes(plots.render_png(spec))
        images[key] = PLOTS[key]
    target = out / "monitor.md"
    target.write_text(markdown(result, images))
    return target
