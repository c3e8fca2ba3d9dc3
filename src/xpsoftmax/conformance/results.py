"""A result of one case (or one property, one transformation) on one subject."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, TypedDict

#: statuses, worst first
STATUSES = ("fail", "error", "pass", "n/a", "skip")


class ResultKey(TypedDict):
    """The fields that say which result is which (a :class:`Result` without its outcome)."""

    subject: str
    kind: str
    case: str
    group: str
    func: str


@dataclass
class Result:
    subject: str
    kind: str
    case: str
    group: str
    func: str
    status: str  # pass / fail / error / n/a / skip
    worst_ulps: float | None = None
    p999_ulps: float | None = None
    detail: str = ""
    contract: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("worst_ulps", "p999_ulps"):
            v = d[key]
            if v is not None and not math.isfinite(v):
                d[key] = str(v)
        return d
