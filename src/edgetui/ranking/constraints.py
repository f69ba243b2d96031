"""Constraints on the rows ranked: `--where power_w<=5 --where kld<0.05` (and the console's
constraints line).

An expression is NAME OP VALUE with OP one of <=, <, >=, >, ==, !=; NAME is a criterion key, a
criterion's results column, or any results column. A criterion is read as the ranking reads it
(edgetui.ranking.rank.value_expr: net energy falls back to gross, a non-finite value is
missing). A text column takes == and != only.

A row whose constrained value is missing fails the constraint and is counted apart from the
rows that have a value outside it: rows left out are always counted, never dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import polars as pl

from edgetui.errors import UserError, close_match_hint
from edgetui.ranking.criteria import _ALIASES, CRITERIA

OPERATORS = ("<=", ">=", "==", "!=", "<", ">")
_EXPR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|==|!=|<|>)\s*(.+?)\s*$")
WHERE = "--where"


@dataclass(frozen=True)
class Constraint:
    """One parsed expression: the name as written, resolved to a criterion key where it is one."""

    text: str  # as the user wrote it, stripped
    name: str
    op: str
    value: str  # the right-hand side as written

    @property
    def criterion(self) -> str | None:
        if self.name in CRITERIA:
            return self.name
        return _ALIASES.get(self.name)

    def shown(self) -> str:
        return f"{self.name} {self.op} {self.value}"


def parse_constraint(text: str) -> Constraint:
    """"power_w<=5" -> Constraint; anything else -> UserError naming the expression (exit 2)."""
    m = _EXPR.match(text or "")
    if not m:
        raise UserError(f'"{text}" is not NAME OP VALUE with OP one of {", ".join(OPERATORS)} '
                        "(e.g. power_w<=5)", where=WHERE)
    name, op, value = m.groups()
    if value.startswith(("=", "<", ">", "!")):
        raise UserError(f'"{text}": "{op}{value[0]}" is not an operator (one of {", ".join(OPERATORS)})',
                        where=WHERE)
    return Constraint(text=text.strip(), name=name, op=op, value=value.strip().strip('"').strip("'"))


def parse_constraints(texts: Iterable[str]) -> list[Constraint]:
    return [parse_constraint(t) for t in texts]


def split_line(line: str) -> list[str]:
    """The console's constraints line: expressions separated by commas, semicolons or spaces
    between whole expressions ("power_w<=5, kld<0.05")."""
    parts = re.split(r"[;,]|\s+(?=[A-Za-z_][A-Za-z0-9_]*\s*(?:<=|>=|==|!=|<|>))", line)
    return [p.strip() for p in parts if p and p.strip()]


@dataclass(frozen=True)
class Checked:
    """A constraint as a polars test: `present` (the row has the value), `passes` (it meets it)."""

    constraint: Constraint
    present: pl.Expr
    passes: pl.Expr
    missing_reason: str  # "no power_w value"
    failing_reason: str  # "power_w > 5" (outside the constraint)


_NEGATION = {"<=": ">", "<": ">=", ">=": "<", ">": "<=", "==": "!=", "!=": "=="}


def check(c: Constraint, schema: pl.Schema | dict[str, pl.DataType]) -> Checked:
    """The polars test of one constraint against a frame of this schema; UserError for a name
    that is neither a criterion nor a column, or a value that does not fit the column."""
    from edgetui.ranking.rank import value_expr  # rank imports this module

    columns = list(schema)
    key = c.criterion
    if key is not None:
        col = value_expr(key, columns)
        numeric = True
    elif c.name in schema:
        dtype = schema[c.name]
        numeric = dtype.is_numeric()
        col = pl.col(c.name)
        if numeric:
            col = pl.when(col.cast(pl.Float64).is_finite()).then(col.cast(pl.Float64)).otherwise(None)
        elif dtype == pl.Boolean:
            col = col.cast(pl.String).str.to_lowercase()
        else:
            col = col.cast(pl.String)
    else:
        hint = close_match_hint(c.name, [*CRITERIA, *columns])
        raise UserError(f'"{c.text}": no criterion or column "{c.name}"{hint}', where=WHERE)
    if numeric:
        try:
            value: float | str = float(c.value)
        except ValueError:
            raise UserError(f'"{c.text}": {c.name} is a number, "{c.value}" is not', where=WHERE) from None
        if value != value:
            raise UserError(f'"{c.text}": the value must be a number, not NaN', where=WHERE)
    else:
        if c.op not in ("==", "!="):
            raise UserError(f'"{c.text}": {c.name} is text; only == and != apply to it', where=WHERE)
        value = c.value
    lit = pl.lit(value)
    test = {"<=": col <= lit, "<": col < lit, ">=": col >= lit, ">": col > lit, "==": col == lit,
            "!=": col != lit}[c.op]
    present = col.is_not_null()
    return Checked(constraint=c, present=present, passes=present & test.fill_null(False),
                   missing_reason=f"no {c.name} value", failing_reason=f"{c.name} {_NEGATION[c.op]} {c.value}")


def apply_constraints(df: pl.DataFrame, constraints: Sequence[Constraint]) -> tuple[pl.DataFrame, list[tuple[str, int]]]:
    """The rows meeting every constraint, and the rows left out as (reason, count): each row
    left out is counted once, under the first constraint it fails (missing value apart)."""
    if not constraints:
        return df, []
    checks = [check(c, df.schema) for c in constraints]
    # per row: the index of the first check it fails, and whether for a missing value
    exprs = []
    for i, ch in enumerate(checks):
        exprs.append(pl.when(~ch.present).then(pl.lit(2 * i)).when(~ch.passes).then(pl.lit(2 * i + 1))
                     .otherwise(None).alias(f"_c{i}"))
    verdict = df.select(pl.coalesce(exprs).alias("_fail")).to_series() if exprs else None
    assert verdict is not None
    counts = verdict.drop_nulls().value_counts().sort(verdict.name).rows()
    left_out = []
    for code, n in counts:
        ch = checks[code // 2]
        left_out.append((ch.missing_reason if code % 2 == 0 else ch.failing_reason, int(n)))
    return df.filter(verdict.is_null()), left_out


def left_out_text(left_out: Sequence[tuple[str, int]]) -> str:
    """"3 rows left out: no power_w value; 12 rows left out: power_w > 5" (empty: none)."""
    return "; ".join(f"{n:,} row{'s' if n != 1 else ''} left out: {why}" for why, n in left_out)


def constraints_text(constraints: Sequence[Constraint]) -> str:
    return " and ".join(c.shown() for c in constraints)
