"""The failed expectations of a validation summary as a text table a person reads.

`validate` logs it when a batch is rejected; the result JSON keeps every value whole.
"""

from __future__ import annotations

from typing import Any

#: Widest example cell of the failure table, in characters.
WIDTH = 100


def _show(value: Any) -> str:
    """An example value as a person reads it: rows as `col=value`, text quoted."""
    if isinstance(value, dict):
        return " ".join(f"{k}={v!r}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return repr(value)


def _examples_cell(examples: list[Any], width: int = WIDTH) -> str:
    """Examples on one line, cut to `width`; the result JSON keeps them whole."""
    sep = "; " if any(isinstance(v, dict) for v in examples) else ", "
    text = sep.join(_show(v) for v in examples)
    return text if len(text) <= width else text[: width - 3] + "..."


def format_failures(summary: dict[str, Any]) -> str:
    """A compact text table of the failed expectations, then why each rule exists."""
    head = ("#", "expectation", "column", "unexpected", "share", "examples")
    rows = [head]
    for number, f in enumerate(summary["failures"], start=1):
        share = f["unexpected_share"]
        rows.append(
            (
                str(number),
                f["expectation"],
                f["column"],
                "" if f["unexpected_count"] is None else str(f["unexpected_count"]),
                "" if share is None else f"{share:.2%}",
                _examples_cell(f["examples"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True))
        + "  "
        + r[-1]
        for r in rows
    ]
    lines.append("rules and why they exist:")
    for number, f in enumerate(summary["failures"], start=1):
        rule = f" [{f['rule']}]" if f["rule"] else ""
        lines.append(f"{number:>2}. {f['column']}{rule}: {f['why']}")
    return "\n".join(lines)
