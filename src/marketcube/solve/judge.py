"""A verdict on every claim: how far the fitted cube had to bend from it.

The standardised residual z compares the cube's value with the claim, in the claim's own terms
and scaled by its confidence (the same scales as triangulation): sizes in log (through the
estimated ratio of the claim's definition and its publisher family's estimated bias), shares in
share points, CAGRs in rate per year. For a
claim the evidence solver used, z is the solver's own (its publisher family's bias included). The
verdict reads z divided by the residual dispersion of its kind (sizes, shares, growth rates): |z| <= 2 consistent; 2 < |z| <= 3 in tension;
above 3 contradicted (the classical three-sigma rule). A claim the cube cannot speak to (a definition no history claim estimates a
ratio for, a member outside the cube's dimensions, a currency with no rate) gets no verdict and
says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cube import Cube
from ..evidence import Evidence, Item
from ..pack import Market
from .core import CONSISTENT, TENSION
from .evidence import SIGMA_GROWTH, SIGMA_LOG, SIGMA_SHARE, Triangulation, family_of

__all__ = ["Verdict", "judge", "SIGMA_SHARE", "verdict_of"]

UNSTATED_YEAR_FACTOR = 1.5  # a share of an unstated year is compared with the base year, less strictly


@dataclass(frozen=True)
class Verdict:
    claim_id: str
    used: bool  # did the fit use it
    claimed: float | None  # in the claim's terms after conversion: USD bn of the target, share, rate
    fitted: float | None  # the cube's value in the same terms
    z: float | None
    verdict: str  # consistent | in tension | contradicted | not judged
    note: str


def verdict_of(z: float, dispersion: float = 1.0) -> str:
    a = abs(z) / dispersion
    return "consistent" if a <= CONSISTENT else "in tension" if a <= TENSION else "contradicted"


def judge(market: Market, evidence: Evidence, cube: Cube, history: Triangulation, used_later: tuple[str, ...]) -> list[Verdict]:
    ratios = {market.definition.id: (1.0, 0.0)}
    ratios.update({d: (r, history.ratio_log_sd[d]) for d, r in history.ratios.items()})
    used = set(history.used) | set(used_later)
    out = []
    for item in evidence.items:
        v = _judge_one(market, item, cube, ratios, item.claim.id in used, history)
        z = history.z.get(item.claim.id)
        if _runs_past_history(market, item, history):
            # the triangulation saw only the part of the period inside the history; the verdict is on
            # the whole period (as stated, or by the convention the history chose), the one the
            # fitted value is over
            z = None
        disp = history.kind_dispersion.get(item.claim.kind, history.dispersion)
        if z is not None and v.z is not None:
            v = Verdict(v.claim_id, v.used, v.claimed, v.fitted, z, verdict_of(z, disp), v.note)
        elif v.z is not None:
            v = Verdict(v.claim_id, v.used, v.claimed, v.fitted, v.z, verdict_of(v.z, disp), v.note)
        out.append(v)
    return out


def _no(item: Item, used: bool, note: str) -> Verdict:
    return Verdict(item.claim.id, used, None, None, None, "not judged", note)


def _judge_one(market, item: Item, cube: Cube, ratios, used: bool, history: Triangulation) -> Verdict:
    c = item.claim
    if c.kind == "structure":
        return _no(item, used, "a claim about structure (see the findings)")
    if item.problem:
        return _no(item, used, item.problem)
    if c.kind == "revenue":
        return _judge_revenue(market, item, cube, used)
    if c.definition not in ratios:
        return _no(item, used, f"no history claim under {c.label!r} lets the solver estimate its ratio to the target")
    if c.member_as_written and not c.selection:
        return _no(item, used, f"{c.member_as_written!r} is not a member of the cube's dimensions")
    sel = tuple(sorted({**dict(c.parent), **dict(c.selection)}.items()))
    point, _ = cube.series(sel)
    by_year = dict(zip(cube.years, point))
    ratio, ratio_sd = ratios[c.definition]
    if c.kind == "size":
        if c.year not in by_year:
            return _no(item, used, f"{c.year} is outside the model's years")
        assert item.value_usd_bn is not None
        # as the claim's publisher would state it: its definition's ratio, its family's bias
        bias = history.family_log_bias.get(family_of(market, c.source), 0.0) if c.source else 0.0
        fitted = by_year[c.year] * ratio * np.exp(bias)
        if fitted <= 0:
            return _no(item, used, "the model has no value in this selection (an assumed share of 0)")
        sd = float(np.hypot(SIGMA_LOG[c.confidence], ratio_sd))
        z = float(np.log(fitted / item.value_usd_bn) / sd)
        return Verdict(c.id, used, item.value_usd_bn, fitted, z, verdict_of(z), item.conversion)
    if c.kind == "share":
        year = c.year if c.year is not None else market.years.base_year
        if year not in by_year:
            return _no(item, used, f"{year} is outside the model's years")
        parent_point, _ = cube.series(c.parent)
        parent_value = dict(zip(cube.years, parent_point))[year]
        if parent_value <= 0:
            return _no(item, used, "the model has no value in the parent (an assumed share of 0)")
        fitted = by_year[year] / parent_value
        sd = SIGMA_SHARE[c.confidence] * (UNSTATED_YEAR_FACTOR if c.year is None else 1)
        assert item.fraction is not None
        z = float((fitted - item.fraction) / sd)
        note = "year not stated: compared with the base year" if c.year is None else ""
        return Verdict(c.id, used, item.fraction, fitted, z, verdict_of(z), note)
    period = history.period_of(market, c)
    if period is None:
        return _no(item, used, "the CAGR's period is not stated and the source gives no endpoints")
    t1, t2 = period
    if t1 not in by_year or t2 not in by_year:
        return _no(item, used, f"period {t1}-{t2} is outside the model's years")
    if by_year[t1] <= 0:
        return _no(item, used, "the model has no value in this selection (an assumed share of 0)")
    fitted = (by_year[t2] / by_year[t1]) ** (1 / (t2 - t1)) - 1
    assert item.fraction is not None
    z = float((fitted - item.fraction) / SIGMA_GROWTH[c.confidence])
    note = history.conventions.get(c.id) or f"{t1}..{t2}"
    if t2 > market.years.base_year:
        note += ", over the model's history and forecast"
    return Verdict(c.id, used, item.fraction, fitted, z, verdict_of(z), f"period {note}")


def _runs_past_history(market: Market, item: Item, history: Triangulation) -> bool:
    if item.claim.kind != "growth" or item.problem:
        return False
    period = history.period_of(market, item.claim)
    return period is not None and period[1] > market.years.base_year


def _judge_revenue(market: Market, item: Item, cube: Cube, used: bool) -> Verdict:
    c = item.claim
    share = next((a for a in market.assumptions.attributions if a.company == c.company), None)
    if share is None:
        return _no(item, used, f"no assumption says what part of {c.company}'s revenue belongs to the market")
    if item.year not in cube.years:
        return _no(item, used, f"{item.year} is outside the model's years")
    assert item.value_usd_bn is not None
    total = cube.series(())[0][cube.year_index(item.year)]
    attributable = item.value_usd_bn * share.share
    frac = attributable / total
    verdict = "consistent" if frac <= 1 else "contradicted"
    note = f"{attributable:.3g} USD bn attributable ({share.share:.0%} of revenue) = {frac:.1%} of the market"
    return Verdict(c.id, used, attributable, None, None, verdict, note)
