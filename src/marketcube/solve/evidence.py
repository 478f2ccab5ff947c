"""Triangulation, evidence mode: every usable claim of the pack becomes a statement of the sparse
core (``solve.core``), over all leaf cells of the history years.

What each claim becomes (history years only; claims about later years go to reconciliation):

- size, at any selection and under any definition: SIZE. A related definition is linked to the
  target by a ratio the solver estimates; a ratio the pack states is that estimate's prior (its
  uncertainty the prior's sd), otherwise the prior is wide (1.3, sd 0.5 in log).
- share: SHARE of the claim's parent selection (the whole market when none); an unstated year is
  read as the base year with a wider sd.
- growth: GROWTH over the part of its period inside the history. With no stated period, both
  conventions (base..end and base+1..end, from the source's own endpoints) are tried: the problem
  is solved with the first, each claim keeps the convention that fits it better, and it is solved
  again.
- company revenue: converted and calendarised by ``normalise``, multiplied by the part of the
  company that belongs to the market (an assumption), summed by year: FLOOR (the market is at least
  that much).

Sds: ``SIGMA_LOG`` / ``SIGMA_SHARE`` / ``SIGMA_GROWTH`` by confidence, times
``1 + VINTAGE_PENALTY x years`` for a claim made before the year it describes. Editions of one
publisher share a log bias (``family``) that the solver estimates with a 10% prior, so they are
not independent witnesses.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..cube import Cube, Selections
from ..evidence import Evidence
from ..pack import Market
from ..validate import claim_key, endpoint_rates, growth_period
from . import core
from .splits import LeafShares, leaf_share_product, leaf_shares

__all__ = ["EvidenceProblem", "build", "triangulate", "sensitivity", "SIGMA_LOG", "SIGMA_SHARE", "SIGMA_GROWTH"]

SIGMA_LOG = {"high": 0.10, "medium": 0.20, "low": 0.30}  # relative sd of a size
SIGMA_SHARE = {"high": 0.03, "medium": 0.05, "low": 0.08}  # sd of a share, share points (0-1)
SIGMA_GROWTH = {"high": 0.010, "medium": 0.015, "low": 0.020}  # sd of a CAGR, rate points a year
UNSTATED_YEAR_FACTOR = 1.5
VINTAGE_PENALTY = 0.10  # sd grows 10% for each year a claim was made before the year it describes
FLOOR_SD = 0.05
INTERACTION_SD = 0.5  # how far a leaf's share departs, persistently, from the product of its members'
# shares (relative sd, about a factor e^0.5 = 1.65 either way at one sd): a leaf the evidence does not
# reach follows its dimensions' estimated shares rather than the assumed ones. The default, and the
# most the solver assumes: with enough claims about crossings it is estimated from them
# (``core.interaction_scale``), no lower than INTERACTION_SD_FLOOR
INTERACTION_SD_FLOOR = 0.1  # a handful of claims near the margins' product does not prove no interaction
WIDE_RATIO = (float(np.log(1.3)), 0.5)
KIND_NAMES = {core.SIZE: "size", core.SHARE: "share", core.GROWTH: "growth"}
N_DRAWS = 200
SEED = 20240101


@dataclass
class EvidenceProblem:
    problem: core.Problem
    years: tuple[int, ...]
    claim_of: list[str]  # statement index -> claim id ("" for a FLOOR)
    floor_claims: dict[int, list[str]]  # FLOOR statement index -> the revenue claims summed in it
    definitions: list[str]  # ratio index -> definition id
    families: list[str]
    alternatives: dict[int, tuple[int, int]]  # growth statement -> the other convention's (t0, t)
    selections: list[tuple]  # agg row -> selection
    periods: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # growth statement -> its
    # whole candidate periods (calendar years, past the history too): the first's, then the alternative's


def vintage_factor(market: Market, source: str | None, year: int) -> float:
    """How much a claim's sd grows because its source wrote it before ``year`` (1 when not)."""
    src = market.sources.get(source) if source else None
    if src is None or src.vintage is None:
        return 1.0
    return 1.0 + VINTAGE_PENALTY * max(0, year - src.vintage)


def build(market: Market, evidence: Evidence, shares: tuple[LeafShares, ...]) -> EvidenceProblem:
    years = tuple(range(market.years.history_start, market.years.base_year + 1))
    yidx = {y: i for i, y in enumerate(years)}
    base = len(years) - 1
    sels = Selections(market.dimensions)
    stated = {r.definition: r for r in market.assumptions.ratios}
    definitions: list[str] = []
    families: list[str] = []
    cols: dict[str, list] = {
        k: [] for k in ("kind", "sel", "t", "value", "sd", "parent", "t0", "definition", "family", "prior")
    }
    claim_of: list[str] = []
    alternatives: dict[int, tuple[int, int]] = {}
    periods: dict[int, list[tuple[int, int]]] = {}

    def add(claim_id: str, **kw) -> int:
        for k in cols:
            cols[k].append(kw.get(k, False if k == "prior" else -1))
        claim_of.append(claim_id)
        return len(claim_of) - 1

    definition_at: dict[str, int] = {}  # name -> index in its list, so lookups don't scan the lists
    family_at: dict[str, int] = {}

    def index_in(names: list[str], at: dict[str, int], name: str) -> int:
        if name not in at:
            at[name] = len(names)
            names.append(name)
        return at[name]

    def ratio_index(definition: str) -> int:
        return -1 if definition == market.definition.id else index_in(definitions, definition_at, definition)

    def family_index(source: str | None) -> int:
        return -1 if not source else index_in(families, family_at, family_of(market, source))

    seen: set[tuple] = set()
    for item in evidence.items:
        c = item.claim
        if c.kind not in ("size", "share", "growth") or item.problem or not c.definition:
            continue
        if claim_key(c) in seen:
            continue  # the same claim entered twice counts once (validation reports DUPLICATE-CLAIM)
        seen.add(claim_key(c))
        if c.member_as_written and not c.selection:
            continue  # a member outside the cube's dimensions
        sel = tuple(sorted({**dict(c.parent), **dict(c.selection)}.items()))
        if c.kind == "size":
            if item.year not in yidx or not item.value_usd_bn:
                continue
            sd = SIGMA_LOG[c.confidence] * vintage_factor(market, c.source, item.year)
            add(c.id, kind=core.SIZE, sel=sels.get(sel), t=yidx[item.year], value=item.value_usd_bn, sd=sd,
                definition=ratio_index(c.definition), family=family_index(c.source))
        elif c.kind == "share":
            year = c.year if c.year is not None else market.years.base_year
            if year not in yidx or item.fraction is None:
                continue
            sd = SIGMA_SHARE[c.confidence] * (UNSTATED_YEAR_FACTOR if c.year is None else 1.0)
            add(c.id, kind=core.SHARE, sel=sels.get(sel), parent=sels.get(c.parent), t=yidx[year], value=item.fraction, sd=sd)
        else:
            # each candidate period with its part inside the history (the part the solver sees)
            candidates = [(p, (max(p[0], years[0]), min(p[1], years[-1]))) for p in _periods(market, c)]
            candidates = [(p, ins) for p, ins in candidates if ins[1] > ins[0]]
            if not candidates or item.fraction is None:
                continue
            a, b = candidates[0][1]
            sd = SIGMA_GROWTH[c.confidence] * vintage_factor(market, c.source, b)
            i = add(c.id, kind=core.GROWTH, sel=sels.get(sel), t=yidx[b], t0=yidx[a], value=item.fraction, sd=sd)
            periods[i] = [p for p, _ in candidates[:1]]
            if len(candidates) > 1 and candidates[1][1] != candidates[0][1]:
                alternatives[i] = (yidx[candidates[1][1][0]], yidx[candidates[1][1][1]])
                periods[i].append(candidates[1][0])
    floor_claims: dict[int, list[str]] = {}
    share_of = {a.company: a.share for a in market.assumptions.attributions}
    # one value per company and year (the median of its sources: two sources of one company's
    # revenue are one revenue), then summed over companies
    per_company: dict[tuple[int, str], list[tuple[float, str]]] = {}
    for item in evidence.items:
        c = item.claim
        if c.kind == "revenue" and not item.problem and item.year in yidx and c.company in share_of and item.value_usd_bn:
            per_company.setdefault((yidx[item.year], c.company), []).append((item.value_usd_bn * share_of[c.company], c.id))
    attributable: dict[int, tuple[float, list[str]]] = {}
    for (t, _), values in sorted(per_company.items()):
        v, ids = attributable.get(t, (0.0, []))
        attributable[t] = (v + float(np.median([x for x, _ in values])), ids + [i for _, i in values])
    for t, (v, ids) in sorted(attributable.items()):
        if v > 0:
            i = add("", kind=core.FLOOR, sel=sels.get(()), t=t, value=v, sd=FLOOR_SD)
            floor_claims[i] = ids
    if not claim_of:
        raise ValueError("no claim can be used by the evidence solver")
    # the pack's assumed splits, as low-weight share statements at their stated uncertainty
    for split in market.assumptions.splits:
        parent_sel = ((split.dimension, split.parent),) if split.parent else ()
        for member, share in split.shares.items():
            for t in range(len(years)):
                add("", kind=core.SHARE, sel=sels.get(((split.dimension, member),)), parent=sels.get(parent_sel), t=t,
                    value=share, sd=max(split.uncertainty, 0.005), prior=True)
    # each leaf's member in every dimension of more than one leaf, as a selection: the margins the
    # leaf prior multiplies (a market split one way only has no interaction to hold back)
    crossed = [d for d in market.dimensions if len(d.leaves) > 1]
    interaction = None
    if len(crossed) >= 2:
        interaction = tuple(np.array([sels.get(((d.id, leaf.id),)) for leaf in d.leaves])[sels.codes[d.id]] for d in crossed)
    statements = core.Statements(**{k: np.array(v) for k, v in cols.items()})
    prior_share, _ = leaf_share_product(shares)
    mean = np.array([np.log(stated[d].ratio) if d in stated else WIDE_RATIO[0] for d in definitions])
    sdv = np.array([max(0.02, np.log1p(stated[d].uncertainty)) if d in stated else WIDE_RATIO[1] for d in definitions])
    problem = core.Problem(
        n_years=len(years), agg=sels.matrix(), prior_share=prior_share, statements=statements,
        n_ratios=len(definitions), ratio_prior_mean=mean, ratio_prior_sd=sdv, n_families=len(families),
        interaction=interaction, interaction_sd=INTERACTION_SD,
    )
    return EvidenceProblem(problem, years, claim_of, floor_claims, definitions, families, alternatives, sels.rows, periods)


def _estimate_interaction(ep: EvidenceProblem, sol: core.Solution) -> str:
    """Set the leaf prior's interaction sd from the claims about crossings, when there are enough
    (between INTERACTION_SD_FLOOR and the default INTERACTION_SD); returns how it was set."""
    p = ep.problem
    if p.interaction is None:
        return "no crossed dimensions"
    found = core.interaction_scale(p, sol, seed=SEED)
    if found is None:
        return f"relative sd {INTERACTION_SD:g}, the default: too few size claims about crossings to estimate it"
    tau, n, boot = found
    p.interaction_sd = float(np.clip(tau, INTERACTION_SD_FLOOR, INTERACTION_SD))
    p.interaction_spread = np.clip(boot, INTERACTION_SD_FLOOR, INTERACTION_SD)
    lo, hi = np.quantile(p.interaction_spread, [0.1, 0.9])
    return (f"relative sd {p.interaction_sd:.2f}, estimated from {n} size claims about crossings (80% bootstrap range "
            f"{lo:.2f}-{hi:.2f}, which the intervals mix over)")


def family_of(market: Market, source: str) -> str:
    """The publisher family a source belongs to (its editions share one bias)."""
    return market.sources[source].edition_of or market.sources[source].publisher


def _periods(market: Market, c) -> list[tuple[int, int]]:
    """The stated period, or both conventions from the source's endpoints (base..end first)."""
    if c.period_from is not None and c.period_to is not None:
        return [(c.period_from, c.period_to)]
    return [(a, b) for a, b, _, _, _ in endpoint_rates(market, c)]


@dataclass(frozen=True)
class Triangulation:
    """What the evidence solver found about the history (units: USD bn, calendar years)."""

    years: tuple[int, ...]
    total_usd_bn: np.ndarray
    cube: Cube
    z: dict[str, float]  # claim id -> standardised residual (size, share, growth)
    used: tuple[str, ...]
    conventions: dict[str, str]  # growth claim id -> the period the solver used, and why that one
    ratios: dict[str, float]  # definition -> estimated value under it / value under the target
    ratio_log_sd: dict[str, float]  # definition -> sd of the log ratio (its prior's: a conservative bound)
    ratio_stated: dict[str, float | None]  # definition -> the ratio the pack states, if any
    claims_per_ratio: dict[str, int]  # definition -> size claims that inform its ratio
    dispersion: float
    kind_dispersion: dict[str, float]  # "size" / "share" / "growth" -> its residual scale
    floors: list[dict]  # per year: attributable revenue, total, claims
    method: str
    _problem: EvidenceProblem | None = None
    _solution: core.Solution | None = None
    periods: dict[str, tuple[int, int]] = field(default_factory=dict)  # growth claim id -> its whole period
    # as the solver read it (the stated one, or the better fitting of the two conventions)
    total_size_claims: dict[int, int] = field(default_factory=dict)  # year -> claims about the whole
    # market's size (any definition) the robust fit kept at more than half their weight

    def period_of(self, market: Market, claim) -> tuple[int, int] | None:
        """A growth claim's period as the triangulation read it, else as stated or by the
        base..end convention (claims the triangulation did not use): one reading for every stage."""
        return self.periods.get(claim.id) or growth_period(market, claim)

    @functools.cached_property
    def family_log_bias(self) -> dict[str, float]:
        """Publisher family -> its estimated log bias (how far its sizes run above the market, in
        log terms, after the definition ratios), for the families with history claims (made once:
        the evidence table reads it for every size claim)."""
        if self._problem is None or self._solution is None:
            return {}
        return {f: float(b) for f, b in zip(self._problem.families, self._solution.log_bias)}


def triangulate(market: Market, evidence: Evidence, *, n_draws: int = N_DRAWS) -> Triangulation:
    rng = np.random.default_rng(SEED)
    # only the assumed shares' point values enter the solver (its starting point); one draw suffices
    shares = tuple(leaf_shares(market, d, 1, rng) for d in market.dimensions)
    ep = build(market, evidence, shares)
    sol = core.solve(ep.problem)
    first = sol
    conventions = {}
    if ep.alternatives:
        s = ep.problem.statements
        st = core._Structure(ep.problem)
        z_first = core.standardised(ep.problem, st, sol.x.ravel(), sol.log_ratio, sol.log_bias)
        for i, (t0, t) in ep.alternatives.items():
            old = (s.t0[i], s.t[i])
            s.t0[i], s.t[i] = t0, t
            z_alt = core.standardised(ep.problem, core._Structure(ep.problem), sol.x.ravel(), sol.log_ratio, sol.log_bias)[i]
            if abs(z_alt) >= abs(z_first[i]):
                s.t0[i], s.t[i] = old
        sol = core.solve(ep.problem, start=first)
    before = ep.problem.interaction_sd
    interaction = _estimate_interaction(ep, sol)
    # warm from ``sol``: a few passes when the problem is the same, to convergence when the leaf
    # prior's sd has just been estimated (three passes then left the base-year total 0.35% short)
    sol_draws = core.solve(ep.problem, n_draws=n_draws, seed=SEED, start=sol,
                           passes=3 if ep.problem.interaction_sd == before else core.PASSES)
    s = ep.problem.statements
    periods: dict[str, tuple[int, int]] = {}
    claims = {c.id: c for c in market.claims}
    for i, cid in enumerate(ep.claim_of):
        if s.kind[i] == core.GROWTH:
            chosen = int(i in ep.alternatives and (s.t0[i], s.t[i]) == ep.alternatives[i])
            periods[cid] = a, b = ep.periods[i][chosen]
            if claims[cid].period_from is not None and claims[cid].period_to is not None:
                how = "stated"
            elif i in ep.alternatives:
                how = "the better fitting of the two conventions in the history"
            elif claims[cid].period_from is not None:  # a stated start is never replaced
                how = "start as stated, end from the source's own sizes"
            else:  # base+1..end left no part in the history (or none to tell the two apart)
                how = "base..end from the source's own sizes"
            conventions[cid] = f"{a}..{b} ({how})"
    # a claim entered twice was solved once: its twins are read by the same period
    twins: dict[tuple, list[str]] = {}
    for c in market.claims:
        twins.setdefault(claim_key(c), []).append(c.id)
    for cid in list(periods):
        for other in twins[claim_key(claims[cid])]:
            periods.setdefault(other, periods[cid])
            conventions.setdefault(other, conventions[cid])
    x = sol_draws.x
    whole = {i for i, sel in enumerate(ep.selections) if sel == ()}
    total_size_claims = dict.fromkeys(ep.years, 0)
    for i in np.flatnonzero((s.kind == core.SIZE) & ~s.prior & (sol_draws.weight > 0.5)):
        if s.sel[i] in whole:
            total_size_claims[ep.years[s.t[i]]] += 1
    cube = Cube(market.dimensions, ep.years, x, sol_draws.draws, {y: "modelled" for y in ep.years})
    cube.evidenced = _evidenced(ep, sol_draws.weight)
    z = {cid: float(sol_draws.z[i]) for i, cid in enumerate(ep.claim_of) if cid}
    mu, tau = core._ratio_prior(ep.problem)
    ratios = {d: float(np.exp(sol_draws.log_ratio[k])) for k, d in enumerate(ep.definitions)}
    ratio_log_sd = {d: float(tau[k]) for k, d in enumerate(ep.definitions)}
    stated = {r.definition: r.ratio for r in market.assumptions.ratios}
    ratio_stated = {d: stated.get(d) for d in ep.definitions}
    per = np.bincount(s.definition[(s.definition >= 0) & (s.kind == core.SIZE)], minlength=len(ep.definitions))
    claims_per_ratio = {d: int(per[k]) for k, d in enumerate(ep.definitions)}
    floors = []
    total = x.sum(axis=1)
    for i, ids in ep.floor_claims.items():
        t = s.t[i]
        floors.append({"year": ep.years[t], "attributable_usd_bn": float(s.value[i]), "total_usd_bn": float(total[t]), "claims": ids})
    used = tuple(cid for cid in ep.claim_of if cid) + tuple(c for ids in ep.floor_claims.values() for c in ids)
    method = (
        f"sparse robust (Cauchy) least squares over {x.size} leaf cells ({len(ep.years)} years x {x.shape[1]} leaves) "
        f"and {len(s)} statements (sizes at any level, shares, growth rates, {len(ep.floor_claims)} company-revenue floors); "
        f"{len(ep.definitions)} definition ratios and {len(ep.families)} publisher-family biases estimated; priors: smooth "
        f"total growth, stable shares, the pack's assumed splits, each leaf near the product of its members' shares "
        f"({interaction}); residual dispersion {sol_draws.dispersion:.2f} ("
        f"{', '.join(f'{KIND_NAMES[k]} {v:.2f}' for k, v in sol_draws.kind_dispersion.items())}); intervals "
        f"from {n_draws} randomize-then-optimize draws (seed {SEED})"
    )
    return Triangulation(
        ep.years, total, cube, z, used, conventions, ratios, ratio_log_sd, ratio_stated, claims_per_ratio,
        sol_draws.dispersion, {name: sol_draws.kind_dispersion[k] for k, name in KIND_NAMES.items()},
        floors, method, ep, sol_draws, periods, total_size_claims,
    )


def sensitivity(market: Market, evidence: Evidence, tri: Triangulation) -> list[dict]:
    """How much the base-year total moves when each source is left out, the rest re-solved from
    the full solution (two passes of the same solver, the source's statements given no weight).
    The re-solves precondition with the full solution's factorisation, the source's statements
    taken out of it exactly (``core._Factor``): on the CMO pack 45 re-solves took 1 s where
    factoring each pass's own matrix took 7 s, the same numbers to 1e-9.

    Returns one row per source the solver used, largest move first: source id, publisher, claims
    used, the base-year total without it (USD bn) and the change (fraction)."""
    ep, sol = tri._problem, tri._solution
    full = float(sol.x.sum(axis=1)[-1])
    claim_source = {i.claim.id: i.claim.source for i in evidence.items}
    sources = np.array([claim_source.get(cid) or "" for cid in ep.claim_of])
    names = sorted(set(sources) - {""})

    def without(source: str) -> float:
        return float(core.solve(ep.problem, start=sol, passes=2, leave_out=sources == source).x.sum(axis=1)[-1])

    # the solves are independent, and the products with the shared factorisation release the GIL;
    # one BLAS-thread limit around them all (see core.one_blas_thread)
    with core.one_blas_thread(), ThreadPoolExecutor(max_workers=max(1, min(len(names), os.cpu_count() or 1))) as pool:
        totals = list(pool.map(without, names))
    rows = [
        {"source": source, "publisher": market.sources[source].publisher, "claims": int((sources == source).sum()),
         "total_without_usd_bn": total, "change": total / full - 1}
        for source, total in zip(names, totals)
    ]
    return sorted(rows, key=lambda r: (-abs(r["change"]), r["source"]))


def _evidenced(ep: EvidenceProblem, weight: np.ndarray) -> set[tuple]:
    """Selections some well-weighted statement speaks to directly (their numbers are modelled)."""
    s = ep.problem.statements
    out: set[tuple] = set()
    for i in range(len(s)):
        if weight[i] > 0.5 and s.kind[i] != core.FLOOR and not s.prior[i]:
            for row in (s.sel[i], s.parent[i]):
                if row >= 0:
                    out.add(ep.selections[row])
    return out
