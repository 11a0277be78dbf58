"""Next-best product (level 4, prediction): a small, documented additive score.

For each candidate product ``p`` and customer history (viewed and purchased lists, most recent
first)::

    score(p) = 3.0 * recency(p)        # 1 / (1 + rank) of p's most recent view, 0 if never viewed
             + 2.0 * affinity(p)       # share of the customer's views (x1) + purchases (x2) in p's category
             + 1.5 * complement(p)     # 1 if a purchased product lists p's category as a complement
             + 0.2 * prior(p)          # merchandising order: 1 for the first product, -> 0 for the last

Products already purchased are excluded (unless every candidate was purchased, then the most
recent purchase is repeated as a re-order nudge). Ties break by catalogue order. The weights are
hand-set: recency of interest is the strongest public signal in short-session retail, category
affinity generalises it, complements give cross-sell after a purchase. Each term is reported.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.personalization.catalogue import Catalogue, Product
from pipelines.personalization.profile import CustomerProfile

W_RECENCY = 3.0
W_AFFINITY = 2.0
W_COMPLEMENT = 1.5
W_PRIOR = 0.2


@dataclass(frozen=True)
class ProductScore:
    """One candidate's score and its terms (already weighted)."""

    product: Product
    total: float
    terms: dict[str, float]
    excluded: str | None = None

    def explain(self) -> str:
        shown = ", ".join(f"{k} {v:+.2f}" for k, v in self.terms.items() if abs(v) >= 0.005)
        return f"{self.product.sku} {self.total:.2f} ({shown or 'no history'})"


def score_products(
    profile: CustomerProfile, catalogue: Catalogue, candidates: list[str] | None = None
) -> list[ProductScore]:
    """All candidate scores, best first; excluded (purchased) products last with ``excluded`` set."""
    products = [catalogue.get(s) for s in candidates] if candidates else list(catalogue)
    n = len(products)
    purchased = {i.sku for i in profile.purchased}
    category_of = {p.sku: p.category for p in catalogue}
    weights: dict[str, float] = {}
    for inter in profile.viewed:
        cat = category_of.get(inter.sku)
        if cat:
            weights[cat] = weights.get(cat, 0.0) + 1.0
    for inter in profile.purchased:
        cat = category_of.get(inter.sku)
        if cat:
            weights[cat] = weights.get(cat, 0.0) + 2.0
    total_w = sum(weights.values())
    complements: set[str] = set()
    for inter in profile.purchased:
        bought = next((p for p in catalogue if p.sku == inter.sku), None)
        if bought:
            complements.update(bought.complements)
    scores = []
    for idx, p in enumerate(products):
        rank = next((r for r, inter in enumerate(profile.viewed) if inter.sku == p.sku), None)
        terms = {
            "recency": W_RECENCY * (1.0 / (1 + rank) if rank is not None else 0.0),
            "affinity": W_AFFINITY * (weights.get(p.category, 0.0) / total_w if total_w else 0.0),
            "complement": W_COMPLEMENT * (1.0 if p.category in complements else 0.0),
            "prior": W_PRIOR * ((n - 1 - idx) / (n - 1) if n > 1 else 1.0),
        }
        excluded = "already purchased" if p.sku in purchased else None
        scores.append(ProductScore(p, round(sum(terms.values()), 4), terms, excluded))
    order = {p.sku: i for i, p in enumerate(products)}
    scores.sort(key=lambda s: (s.excluded is not None, -s.total, order[s.product.sku]))
    return scores


def next_best_product(
    profile: CustomerProfile, catalogue: Catalogue, candidates: list[str] | None = None
) -> tuple[Product, str]:
    """The chosen product and a one-line reason naming its score terms and the runner-up."""
    scores = score_products(profile, catalogue, candidates)
    eligible = [s for s in scores if s.excluded is None]
    if not eligible:
        last = profile.purchased[0].sku
        chosen = (
            next(s for s in scores if s.product.sku == last)
            if any(s.product.sku == last for s in scores)
            else scores[0]
        )
        return chosen.product, f"every candidate already purchased; re-order nudge for {chosen.product.sku}"
    best = eligible[0]
    reason = f"top score {best.explain()}"
    if len(eligible) > 1:
        reason += f"; runner-up {eligible[1].explain()}"
    skipped = [s.product.sku for s in scores if s.excluded]
    if skipped:
        reason += f"; excluded as already purchased: {', '.join(skipped)}"
    return best.product, reason
