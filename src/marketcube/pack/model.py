"""Typed objects of a market pack: what ``load`` returns and every later stage reads.

Units: claim values are as the source printed them (``unit`` says which, e.g. ``USD bn``,
``CNY bn``, ``%``); normalisation to USD billions happens in ``marketcube.evidence``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["size", "share", "growth", "revenue", "structure"]
Confidence = Literal["high", "medium", "low"]
CONFIDENCES: tuple[str, ...] = ("high", "medium", "low")
KINDS: tuple[str, ...] = ("size", "share", "growth", "revenue", "structure")


@dataclass(frozen=True)
class Where:
    """A place in the pack: file (relative to the pack folder) and 1-based line, if any."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


@dataclass(frozen=True)
class Definition:
    id: str
    name: str
    text: str = ""
    relation: str = ""  # how it relates to the target, in words


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    parent: str | None = None  # member id within the same dimension, None for a top member
    iso2: str | None = None  # countries only (ISO 3166-1 alpha-2)
    rest: bool = False  # "rest of <parent>": the part of the parent no named child covers
    m49: tuple[str, ...] = ()  # regions only: UN M49 area codes the region is meant to cover


@dataclass(frozen=True)
class Dimension:
    id: str
    name: str
    members: tuple[Member, ...]

    def member(self, member_id: str) -> Member:
        for m in self.members:
            if m.id == member_id:
                return m
        raise KeyError(member_id)

    @property
    def leaves(self) -> tuple[Member, ...]:
        parents = {m.parent for m in self.members}
        return tuple(m for m in self.members if m.id not in parents)

    def children(self, member_id: str | None) -> tuple[Member, ...]:
        return tuple(m for m in self.members if m.parent == member_id)

    def leaves_under(self, member_id: str) -> tuple[Member, ...]:
        """Leaf members at or below ``member_id``."""
        out = []
        for leaf in self.leaves:
            m: Member | None = leaf
            while m is not None:
                if m.id == member_id:
                    out.append(leaf)
                    break
                m = self.member(m.parent) if m.parent else None
        return tuple(out)

    def ancestors(self, member_id: str) -> tuple[str, ...]:
        out = []
        m = self.member(member_id)
        while m.parent:
            out.append(m.parent)
            m = self.member(m.parent)
        return tuple(out)


@dataclass(frozen=True)
class Years:
    history_start: int
    base_year: int
    study_end: int


@dataclass(frozen=True)
class Source:
    id: str
    publisher: str
    title: str = ""
    url: str = ""
    vintage: int | None = None  # year the source was published or seen
    promises: tuple[str, ...] = ()  # dimensions the source's title promises a segmentation by
    edition_of: str = ""  # publisher family: editions of one publisher are not independent
    where: Where = Where("sources.csv")


Selection = tuple[tuple[str, str], ...]  # sorted ((dimension id, member id), ...); () is the total


@dataclass(frozen=True)
class Claim:
    """One statement from one source. Fields a kind does not use are None or empty."""

    id: str
    kind: str
    source: str | None
    label: str  # the market label as the source wrote it
    definition: str | None  # the declared definition the label maps to (None: not mapped)
    where: Where
    selection: Selection = ()
    member_as_written: str = ""
    dimension_as_written: str = ""
    year: int | None = None
    value: float | None = None
    unit: str = ""
    period_from: int | None = None
    period_to: int | None = None
    parent: Selection = ()
    parent_as_written: str = ""
    confidence: str = "medium"
    quote: str = ""
    note: str = ""
    origin: str = ""  # where the row came from outside the pack (e.g. a shared data file:line)
    # company revenue
    company: str = ""
    fiscal_year_end: str = ""  # MM-DD
    scope: str = ""
    # structure: the group the source listed the member under, as written
    group_as_written: str = ""

    @property
    def currency(self) -> str:
        return self.unit.split()[0] if self.unit and self.unit != "%" else ""


@dataclass(frozen=True)
class Split:
    """An assumed split of a parent member into its children (shares sum to 1)."""

    id: str
    dimension: str
    parent: str | None  # None: the dimension's top members
    shares: dict[str, float]
    uncertainty: float  # standard deviation of each share, in share points (0-1)
    rationale: str
    where: Where


@dataclass(frozen=True)
class Ratio:
    """An assumed ratio: value under ``definition`` = ratio x value under the target definition."""

    id: str
    definition: str
    ratio: float
    uncertainty: float  # relative standard deviation
    rationale: str
    where: Where


@dataclass(frozen=True)
class Attribution:
    """The part of a company's revenue that belongs to the target market."""

    id: str
    company: str
    share: float
    uncertainty: float
    rationale: str
    where: Where


@dataclass(frozen=True)
class Assumptions:
    splits: tuple[Split, ...] = ()
    ratios: tuple[Ratio, ...] = ()
    attributions: tuple[Attribution, ...] = ()


@dataclass(frozen=True)
class NarrativeSection:
    title: str
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class Market:
    """A loaded market pack. Nothing here has been judged yet: see ``marketcube.validate``."""

    id: str
    title: str
    definition: Definition  # the target definition
    definitions: tuple[Definition, ...]  # related definitions (the target excluded)
    labels: dict[str, str]  # source label -> definition id
    currency: str
    fx_policy: str
    calendarisation: str
    fx: dict[int, dict[str, float]]  # year -> currency -> units per 1 USD (annual average)
    years: Years
    dimensions: tuple[Dimension, ...]
    sources: dict[str, Source]
    claims: tuple[Claim, ...]
    assumptions: Assumptions
    narrative: tuple[NarrativeSection, ...]
    folder: str
    inputs_hash: str
    label_where: dict[str, Where] = field(default_factory=dict)

    def dimension(self, dim_id: str) -> Dimension:
        for d in self.dimensions:
            if d.id == dim_id:
                return d
        raise KeyError(dim_id)

    @property
    def all_definitions(self) -> tuple[Definition, ...]:
        return (self.definition, *self.definitions)

    @property
    def model_end(self) -> int:
        """The model runs on to the latest year any claim names (at least the study end)."""
        years = [self.years.study_end]
        for c in self.claims:
            years += [y for y in (c.year, c.period_to) if y is not None]
        return max(years)
