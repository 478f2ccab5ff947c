"""A simulated market with known truth and evidence made harder than the solver's assumptions.

Fixed seeds. The truth: a total growing about 6% a year with noise, leaf cells from marginal shares
per dimension times a cross-dimension interaction, shares drifting slowly over the years. The
evidence (settings in ``HARD``): Student-t noise (3 degrees of freedom) at 1.5x the sd the solver
assumes for the claim's confidence; 3% gross outliers of 1.5x-4x either way; 20% of claims under
three related definitions whose ratios (1.1-1.7) the solver is not told; 5% of values labelled a
year off; 30% of sizes in other currencies; company revenues with fiscal years ending in June or
March; 2-3 editions per publisher sharing a publisher bias (sd 10%).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from marketcube.evidence import calendar_year
from marketcube.pack import Claim, Definition, Dimension, Market, Member, Source, Where, Years
from marketcube.pack.model import Assumptions, Attribution, Split
from marketcube.solve.evidence import SIGMA_GROWTH, SIGMA_LOG, SIGMA_SHARE

HARD = {
    "noise": "Student-t, 3 df, at 1.5x the solver's sd",
    "outliers": "3% at 1.5x-4x either way",
    "related_definitions": "20% of claims under 3 definitions, ratios 1.1-1.7, not told",
    "year_off": "5% of values labelled one year off",
    "other_currencies": "30% of sizes in EUR, JPY or CNY",
    "fiscal_years": "company revenues with fiscal years ending in June or March",
    "editions": "2-3 editions per publisher sharing a bias of sd 10%",
}
NOISE_FACTOR = 1.5
CURRENCIES = {"EUR": 0.9, "JPY": 140.0, "CNY": 7.0}


@dataclass(frozen=True)
class Size:
    name: str
    types: int
    users: int
    regions: int
    countries: int  # per region
    years: int
    claims: int


SIZES = {
    "small": Size("small", 2, 3, 3, 3, 8, 400),
    "medium": Size("medium", 4, 5, 5, 10, 10, 4000),
    "large": Size("large", 10, 10, 10, 10, 20, 50000),
}


@dataclass
class Truth:
    market: Market
    cells: np.ndarray  # (years, leaves) USD bn
    outliers: set[str] = field(default_factory=set)
    ratios: dict[str, float] = field(default_factory=dict)
    # each evidence claim's error as drawn (noise and any outlier factor), in the sd the solver
    # assumes for it: what a judge that knew the truth would see (publisher bias and year-off
    # labels aside)
    drawn_z: dict[str, float] = field(default_factory=dict)


def _dims(size: Size) -> tuple[Dimension, ...]:
    types = Dimension("type", "Type", tuple(Member(f"t{i}", f"Type {i}") for i in range(size.types)))
    users = Dimension("end_user", "End-user", tuple(Member(f"u{i}", f"User {i}") for i in range(size.users)))
    geo = []
    for r in range(size.regions):
        geo.append(Member(f"r{r}", f"Region {r}"))
        geo += [Member(f"r{r}c{c}", f"Country {r}.{c}", parent=f"r{r}") for c in range(size.countries)]
    return (types, users, Dimension("geography", "Geography", tuple(geo)))


def simulate(size: Size, seed: int = 7) -> Truth:
    rng = np.random.default_rng(seed)
    dims = _dims(size)
    start = 2000
    years = list(range(start, start + size.years))
    Y = size.years
    # marginal shares per dimension (countries within regions), an interaction, and slow drift
    w_type = rng.dirichlet(np.full(size.types, 3.0))
    w_user = rng.dirichlet(np.full(size.users, 3.0))
    w_region = rng.dirichlet(np.full(size.regions, 3.0))
    w_country = np.concatenate([rng.dirichlet(np.full(size.countries, 2.0)) * w for w in w_region])
    leaf = np.einsum("i,j,k->ijk", w_type, w_user, w_country).ravel()
    leaf *= rng.lognormal(0, 0.2, leaf.size)
    drift = np.cumsum(rng.normal(0, 0.02, (Y, leaf.size)), axis=0)
    shares = leaf[None, :] * np.exp(drift)
    shares /= shares.sum(axis=1, keepdims=True)
    growth = 0.06 + np.cumsum(rng.normal(0, 0.01, Y))
    total = 100.0 * np.exp(np.concatenate([[0], np.cumsum(np.log1p(growth[1:]))]))
    cells = total[:, None] * shares
    # the solver's view: definitions, sources, splits the analyst assumes (the truth, perturbed)
    target = Definition("m", "Market")
    related = tuple(Definition(f"d{k}", f"Related {k}") for k in range(3))
    ratios = {d.id: float(rng.uniform(1.1, 1.7)) for d in related}
    labels = {"market": "m", **{f"related {k}": f"d{k}" for k in range(3)}}
    n_pub = max(4, size.claims // 60)
    sources = {}
    bias = {}
    for p in range(n_pub):
        b = rng.normal(0, 0.10)
        for e in range(int(rng.integers(2, 4))):
            sid = f"p{p}e{e}"
            sources[sid] = Source(sid, f"Publisher {p}", vintage=int(rng.integers(start, start + Y + 2)), edition_of=f"Publisher {p}")
            bias[sid] = b
    source_ids = list(sources)
    fx = {y: {c: v * float(np.exp(rng.normal(0, 0.05))) for c, v in CURRENCIES.items()} for y in years}
    splits = []

    def guess(shares_true: np.ndarray) -> np.ndarray:
        g = shares_true * rng.lognormal(0, 0.15, shares_true.size)
        return g / g.sum()

    base_shares = cells[-1] / cells[-1].sum()
    grid = base_shares.reshape(size.types, size.users, -1)
    for dim, marg in (("type", grid.sum(axis=(1, 2))), ("end_user", grid.sum(axis=(0, 2)))):
        g = guess(marg)
        members = dims[0 if dim == "type" else 1].members
        splits.append(Split(f"s-{dim}", dim, None, {m.id: float(x) for m, x in zip(members, g)}, 0.05, "simulated", Where("sim")))
    country = grid.sum(axis=(0, 1)).reshape(size.regions, size.countries)
    g = guess(country.sum(axis=1))
    splits.append(Split("s-geo", "geography", None, {f"r{r}": float(g[r]) for r in range(size.regions)}, 0.05, "simulated", Where("sim")))
    for r in range(size.regions):
        g = guess(country[r] / country[r].sum())
        splits.append(Split(f"s-r{r}", "geography", f"r{r}", {f"r{r}c{c}": float(g[c]) for c in range(size.countries)}, 0.05, "simulated", Where("sim")))

    # selections at every level of aggregation
    geo_members = [m.id for m in dims[2].members]
    countries_ = [m for m in geo_members if "c" in m]
    regions_ = [m for m in geo_members if "c" not in m]
    patterns = [
        lambda: (),
        lambda: (("type", f"t{rng.integers(size.types)}"),),
        lambda: (("end_user", f"u{rng.integers(size.users)}"),),
        lambda: (("geography", regions_[rng.integers(len(regions_))]),),
        lambda: (("geography", countries_[rng.integers(len(countries_))]),),
        lambda: (("geography", regions_[rng.integers(len(regions_))]), ("type", f"t{rng.integers(size.types)}")),
        lambda: (("end_user", f"u{rng.integers(size.users)}"), ("type", f"t{rng.integers(size.types)}")),
        lambda: (
            ("end_user", f"u{rng.integers(size.users)}"),
            ("geography", countries_[rng.integers(len(countries_))]),
            ("type", f"t{rng.integers(size.types)}"),
        ),
    ]
    pattern_p = np.array([0.10, 0.10, 0.10, 0.15, 0.20, 0.10, 0.10, 0.15])

    grid4 = cells.reshape(Y, size.types, size.users, size.regions, size.countries)

    claims: list[Claim] = []
    outliers: set[str] = set()
    drawn_z: dict[str, float] = {}
    conf_levels = np.array(["high", "medium", "low"])
    series_cache: dict = {}

    def series(sel):
        """The true value of a selection in every year (indexing the cube's product grid)."""
        key = tuple(sorted(sel))
        if key not in series_cache:
            idx: list = [slice(None)] * 5
            for d, m in key:
                if d == "type":
                    idx[1] = int(m[1:])
                elif d == "end_user":
                    idx[2] = int(m[1:])
                elif "c" in m:
                    r, c = m[1:].split("c")
                    idx[3], idx[4] = int(r), int(c)
                else:
                    idx[3] = int(m[1:])
            sub = grid4[tuple(idx)]
            series_cache[key] = sub.reshape(Y, -1).sum(axis=1)
        return series_cache[key]

    n_company = max(4, size.claims // 50)
    n_evidence = size.claims - n_company
    for i in range(n_evidence):
        sel = patterns[rng.choice(len(patterns), p=pattern_p)]()
        sel = tuple(sorted(sel))
        conf = str(conf_levels[rng.choice(3, p=[0.4, 0.4, 0.2])])
        sid = source_ids[rng.integers(len(source_ids))]
        kind = rng.choice(["size", "share", "growth"], p=[0.55, 0.25, 0.20])
        t = int(rng.integers(0, Y))
        definition = "market"
        mult = 1.0
        if kind == "size" and rng.random() < 0.20:
            k = int(rng.integers(3))
            definition = f"related {k}"
            mult = ratios[f"d{k}"]
        t_label = t
        if rng.random() < 0.05:
            t_label = min(Y - 1, max(0, t + (1 if rng.random() < 0.5 else -1)))
        cid = f"c{i}"
        bad = rng.random() < 0.03
        factor = float(rng.uniform(1.5, 4.0)) ** (1 if rng.random() < 0.5 else -1) if bad else 1.0
        noise = float(rng.standard_t(3))
        if kind == "size":
            v = series(sel)[t] * mult * np.exp(bias[sid] + NOISE_FACTOR * SIGMA_LOG[conf] * noise) * factor
            unit = "USD bn"
            if rng.random() < 0.30:
                ccy = str(rng.choice(list(CURRENCIES)))
                v *= fx[years[t_label]][ccy]
                unit = f"{ccy} bn"
            claims.append(Claim(cid, "size", sid, definition, labels[definition], Where("sim"), selection=sel,
                                year=years[t_label], value=float(v), unit=unit, confidence=conf))
            drawn_z[cid] = NOISE_FACTOR * noise + float(np.log(factor)) / SIGMA_LOG[conf]
        elif kind == "share":
            if not sel:
                continue
            parent = sel[:-1] if len(sel) > 1 else ()
            s_true = series(sel)[t] / series(parent)[t]
            v = s_true + NOISE_FACTOR * SIGMA_SHARE[conf] * noise
            v = v * factor if bad else v
            v = float(np.clip(v, 0.0005, 0.9995))
            claims.append(Claim(cid, "share", sid, definition, labels[definition], Where("sim"), selection=sel[-1:],
                                parent=parent, year=years[t_label], value=100 * v, unit="%", confidence=conf))
            drawn_z[cid] = (v - s_true) / SIGMA_SHARE[conf]
        else:
            if Y < 3:
                continue
            t0 = int(rng.integers(0, Y - 2))
            t1 = int(rng.integers(t0 + 2, Y))
            s = series(sel)
            g = (s[t1] / s[t0]) ** (1 / (t1 - t0)) - 1
            v = g + NOISE_FACTOR * SIGMA_GROWTH[conf] * noise
            if bad:
                v = (1 + g) ** factor - 1 if factor > 1 else (1 + g) ** factor - 1
            claims.append(Claim(cid, "growth", sid, definition, labels[definition], Where("sim"), selection=sel,
                                value=100 * float(v), unit="%", period_from=years[t0], period_to=years[t1], confidence=conf))
            drawn_z[cid] = (v - g) / SIGMA_GROWTH[conf]
        if bad:  # planted only once its claim exists (a share of the whole market is skipped above)
            outliers.add(cid)
    # company revenues: fiscal years ending in June or March, some in other currencies
    attributions = []
    n_companies = max(3, n_company // 4)
    for k in range(n_companies):
        share = float(rng.uniform(0.005, 0.03))
        attr = float(rng.uniform(0.6, 1.0))
        attributions.append(Attribution(f"a{k}", f"Company {k}", attr, 0.1, "simulated", Where("sim")))
        fye = str(rng.choice(["12-31", "06-30", "03-31"]))
        ccy = str(rng.choice(["USD", "EUR", "JPY"]))
        for fy in range(start + 1, start + Y + 1):
            cal = calendar_year(fy, fye)
            if cal not in years:
                continue
            usd_bn = share * total[years.index(cal)] / attr
            v = usd_bn * (fx[cal][ccy] if ccy != "USD" else 1.0) * 1000
            sid = source_ids[rng.integers(len(source_ids))]
            claims.append(Claim(f"co{k}-{fy}", "revenue", sid, "", None, Where("sim"), company=f"Company {k}", year=fy,
                                fiscal_year_end=fye, value=float(v), unit=f"{ccy} mn", scope="group", confidence="high"))
    market = Market(
        id=f"sim-{size.name}", title=f"Simulated market ({size.name})", definition=target, definitions=related,
        labels=labels, currency="USD", fx_policy="simulated", calendarisation="as marketcube", fx=fx,
        years=Years(years[0], years[-1], years[-1] + 1), dimensions=dims, sources=sources, claims=tuple(claims),
        assumptions=Assumptions(tuple(splits), (), tuple(attributions)), narrative=(), folder="(simulated)",
        inputs_hash=hashlib.sha256(f"{size}{seed}".encode()).hexdigest(),
    )
    return Truth(market, cells, outliers, ratios, drawn_z)
