"""The declaration of one option: its help, flag, choices and numeric range."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Spec:
    """What an option is, declared once beside its field (a config field's metadata, see
    :func:`mmgraph.train.config.option`, or a model constructor's ``Annotated`` type, see
    :mod:`mmgraph.models.options`): the CLI flags, ``options`` listing, validation and the
    option tables in the docs are generated from it.

    ``low`` / ``high`` bound a number (inclusive, unless ``low_open`` / ``high_open``); for a
    list they bound every element, with ``also`` naming extra allowed element values (``-1``);
    ``choices`` lists the allowed strings; ``flag`` is the option's CLI flag, if it has one (``metavar`` names its value)
    (every option can be set with ``--set section.name=value``).
    """

    help: str = ""
    flag: str | None = None
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    also: tuple = ()
    metavar: str | None = None

    def violation(self, value: Any) -> str | None:
        """Why ``value`` is not allowed (``None`` when it is, and for ``None`` itself)."""
        if value is None:
            return None
        if self.choices is not None and value not in self.choices:
            return "one of " + ", ".join(f"'{c}'" for c in self.choices)
        for v in value if isinstance(value, list) else [value]:
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v in self.also:
                continue
            if not math.isfinite(v) or not self._in_range(v):
                if isinstance(value, list):
                    return "numbers each " + self.bounds()
                return self.range_text(isinstance(v, int))
        return None

    def _in_range(self, v: float) -> bool:
        low_ok = self.low is None or (v > self.low if self.low_open else v >= self.low)
        high_ok = self.high is None or (v < self.high if self.high_open else v <= self.high)
        return low_ok and high_ok

    def bounds(self) -> str:
        """The allowed range alone: ``>= 0 and < 1 (or -1)``."""

        def num(x: float) -> str:
            return f"{int(x)}" if float(x).is_integer() else f"{x:g}"

        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {num(self.low)}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {num(self.high)}")
        return " and ".join(parts) + "".join(f" (or {a})" for a in self.also)

    def range_text(self, integer: bool = False) -> str:
        kind = "an integer" if integer else "a finite number"
        return f"{kind} {self.bounds()}".rstrip()

    def allowed(self) -> str:
        """What values the option takes, as an option table says it (``""``: any)."""
        if self.choices:
            return ", ".join(self.choices)
        if self.low is None and self.high is None:
            return ""
        return self.bounds()
