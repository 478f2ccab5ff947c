"""What validation and the solver found: one ``Finding`` per problem, with a stable code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class Finding:
    """One problem. ``location`` is ``file:line`` or a claim id; ``claims`` are the ids involved."""

    code: str
    severity: Severity
    message: str
    location: str = ""
    claims: tuple[str, ...] = ()
    quotes: tuple[str, ...] = ()  # the verbatim quotes the involved claims come from

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "location": self.location,
            "claims": list(self.claims),
            "quotes": list(self.quotes),
        }


def sort_findings(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (SEVERITY_ORDER[f.severity], f.code, f.location, f.claims))
