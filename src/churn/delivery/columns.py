"""The contract's rules per column, and a check of a whole batch column by column.

`schema` builds the request model from the same rules (`rule_of`), so the two agree
on what a valid value is; `ColumnCheck` is the service's fast path.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, replace
from typing import Any

from churn import contract

#: The bound of an integer column the contract leaves open: pandas' Int64, which
#: the batch path reads ids into, and the widest integer orjson writes back.
INT64_MAX = 2**63 - 1

#: The rule behind the contract's nullable `total_charges`: the validation suite
#: allows a blank only before the first bill (tenure 0), and `prepare.clean` relies
#: on it.
UNBILLED = ("total_charges", "tenure")


@dataclass(frozen=True)
class Rule:
    """One column's rules from the contract: the JSON types a value may have, its
    levels or range, whether it may be null. `field_type` turns them into the request
    model's annotation, `ColumnCheck` into a check over a whole column."""

    name: str
    types: frozenset[type]
    allowed: frozenset[Any] | None
    minimum: float | None
    maximum: float | None
    nullable: bool


def rule_of(col: contract.Column) -> Rule:
    """The rules `col` sets for one JSON value."""
    if col.allowed is not None:
        types = frozenset(type(v) for v in col.allowed)
    elif col.kind in ("id", "integer"):
        types = frozenset({int})
    elif col.kind == "number":
        # A strict float field takes JSON integers too.
        types = frozenset({int, float})
    else:
        raise ValueError(f"column {col.name!r}: no request type for kind {col.kind!r}")
    allowed = frozenset(col.allowed) if col.allowed is not None else None
    maximum = col.maximum
    if maximum is None and types == {int} and allowed is None:
        maximum = INT64_MAX
    return Rule(col.name, types, allowed, col.minimum, maximum, col.nullable)


def id_range() -> tuple[int, int]:
    """The smallest and the largest customer id a request may carry."""
    rule = rule_of(contract.column(contract.ID))
    return int(rule.minimum), int(rule.maximum)


def _column_ok(rule: Rule, values: tuple[Any, ...]) -> bool:
    types = set(map(type, values))
    if rule.nullable and type(None) in types:
        types.discard(type(None))
        values = tuple(v for v in values if v is not None)
    # Exact types: `bool` is not `int` here, so JSON true is never a 0/1 flag.
    if not types <= rule.types:
        return False
    if not values:
        return True
    if rule.allowed is not None:
        return set(values) <= rule.allowed
    if float in types and not all(map(math.isfinite, values)):
        return False
    low, high = min(values), max(values)
    return (rule.minimum is None or low >= rule.minimum) and (
        rule.maximum is None or high <= rule.maximum
    )


class ColumnCheck:
    """A whole-column check of a parsed request body that never accepts a bad one.

    Validating a batch customer by customer costs more than scoring it. This check
    looks at each column of the batch at once, with the same rules `field_type`
    builds from the contract, and returns the columns only when every rule holds.
    It may decline a body the request model would take (a 0/1 flag sent as 1.0, say);
    the caller then validates with `build_request_model`, which also words the
    errors. The tests hold it to never accepting what the request model refuses.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.features = tuple(contract.feature_names())
        self._rules = tuple(rule_of(contract.column(n)) for n in self.features)
        # The id is optional: missing and null both mean "none given".
        self._id_rule = replace(rule_of(contract.column(contract.ID)), nullable=True)
        self._with_id = frozenset((contract.ID, *self.features))
        self._without_id = frozenset(self.features)
        self._pick = operator.itemgetter(*self.features)
        self._unbilled = self.features.index(UNBILLED[0])
        self._tenure = self.features.index(UNBILLED[1])
        #: The most members an object of a valid body has (a customer with an id).
        self.width = len(self._with_id)
        #: The most members all objects of a valid body have together.
        self.members = 1 + limit * self.width
        # What `columns` counts colons for: no name or level it accepts holds one.
        texts = [*self._with_id]
        texts += [v for r in self._rules for v in r.allowed or () if type(v) is str]
        if any(":" in text for text in texts):
            raise ValueError("a column name or level holds ':'")

    def could_be_batch(self, colons: int, braces: int, commas: int) -> bool:
        """Whether a body with these marks (`churn.delivery.body.marks`) can be a
        batch this check clears: one object around at most `limit` customers,
        each of at most `width` members, and no comma but those between members
        and between customers. A body that is not is never parsed on the event
        loop; its names and levels holding no colon or comma, a valid one is.
        """
        customers = braces - 1
        return (
            0 <= customers <= self.limit
            and colons <= 1 + self.width * customers
            and commas <= colons
        )

    def columns(
        self, body: Any, colons: int | None = None
    ) -> tuple[list[Any], dict[str, tuple[Any, ...]]] | None:
        """The customers' ids and feature columns, or None if not certainly valid.

        Given the number of colons in the text `body` was parsed from (see
        `churn.delivery.body.marks`), a body that repeats a key in an object is
        declined too (a parser keeps one of the values): every string
        of a body this check clears is a name or level without a colon, so its text
        holds exactly one colon per member of an object, and a repeated key is one
        colon too many.
        """
        if type(body) is not dict or body.keys() != {"customers"}:
            return None
        rows = body["customers"]
        if type(rows) is not list or not 1 <= len(rows) <= self.limit:
            return None
        if not all(type(row) is dict for row in rows):
            return None
        with_id, without_id = self._with_id, self._without_id
        if not all(r.keys() == with_id or r.keys() == without_id for r in rows):
            return None
        ids = [row.get(contract.ID) for row in rows]
        if not _column_ok(self._id_rule, tuple(ids)):
            return None
        values = list(zip(*map(self._pick, rows), strict=True))
        if not all(map(_column_ok, self._rules, values)):
            return None
        tenure = values[self._tenure]
        blanks = values[self._unbilled]
        if None in blanks and any(
            b is None and t != 0 for b, t in zip(blanks, tenure, strict=True)
        ):
            return None
        if colons is not None and colons != 1 + sum(map(len, rows)):
            return None
        return ids, dict(zip(self.features, values, strict=True))
