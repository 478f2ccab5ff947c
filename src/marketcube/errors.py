"""Errors a user can cause, each naming where it happened and how to fix it.

The tree::

    MarketcubeError                 anything marketcube raises on purpose
    ├── PackError                   the market pack cannot be loaded (CLI exit 2)
    │   ├── PackFileMissing         a file the pack needs is not there
    │   ├── PackFileUnreadable      empty, too large, not UTF-8
    │   ├── PackSyntaxError         malformed YAML or CSV
    │   ├── PackValueError          a field has the wrong type or an impossible value
    │   ├── UnknownReference        a member, source, claim or definition id that does not exist
    │   └── DuplicateId             two things share one id
    └── PackRefused                 the pack loaded but has error findings (CLI exit 1)

Every ``PackError`` carries ``file``, ``line`` (or ``None``) and ``hint``; ``str()`` gives one
line a person can act on.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "MarketcubeError",
    "PackError",
    "PackFileMissing",
    "PackFileUnreadable",
    "PackSyntaxError",
    "PackValueError",
    "UnknownReference",
    "DuplicateId",
    "PackRefused",
]


class MarketcubeError(Exception):
    """Base of every error marketcube raises on purpose."""


class PackError(MarketcubeError):
    """The market pack cannot be loaded as it is."""

    def __init__(self, message: str, *, file: Path | str, line: int | None = None, hint: str = ""):
        self.message = message
        self.file = str(file)
        self.line = line
        self.hint = hint
        super().__init__(str(self))

    @property
    def location(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        return f"{text}. Fix: {self.hint}" if self.hint else text


class PackFileMissing(PackError):
    pass


class PackFileUnreadable(PackError):
    pass


class PackSyntaxError(PackError):
    pass


class PackValueError(PackError):
    pass


class UnknownReference(PackError):
    pass


class DuplicateId(PackError):
    pass


class PackRefused(MarketcubeError):
    """The pack has error findings; the report would not be honest, so none is made."""

    def __init__(self, findings: list) -> None:  # list[Finding]; untyped to keep this module leaf
        self.findings = findings
        n = sum(1 for f in findings if f.severity == "error")
        super().__init__(f"the pack has {n} error finding(s); fix them and run again")
