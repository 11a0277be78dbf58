"""Customer profile + catalogue -> :class:`PersonalizationPlan`, with a reason for every decision.

Five levels, each deterministic and explainable (the reasons go into the campaign manifest):

1. **attributes** — first name (merge field), age band, language (explicit, else from the
   location's country), market currency, and the voice accent from the voice registry's
   resolver (``pipelines.voice.accents.resolve_accent``).
2. **behaviour** — colourway of the chosen product: among the SKU's real colourways, the one
   nearest by CIEDE2000 to the customer's taste (favourite colours weight 1.0, colourways
   purchased 0.8, colourways viewed 0.3-0.6 scaled by engagement; distance = (ΔE00 + 1) / weight,
   nearest taste colour wins); offer from engagement.
3. **context / intent** — aspect-ratio format from channel + device (restricted to the
   campaign's formats), template variant from the session intent.
4. **prediction** — next-best product (:mod:`pipelines.personalization.scoring`).
5. **emotion** — tone from the lexicon sentiment of the customer's message
   (:mod:`pipelines.personalization.sentiment`): negative -> empathetic; support intent ->
   calm; positive and excited -> energetic; otherwise a default by age band.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pipelines._common.errors import PipelineInputError, unknown_choice
from pipelines.personalization.catalogue import Catalogue, Product
from pipelines.personalization.copy import CopyDeck
from pipelines.personalization.profile import CURRENCY_BY_COUNTRY, CustomerProfile
from pipelines.personalization.scoring import next_best_product
from pipelines.personalization.sentiment import analyze
from pipelines.video.specs import FORMATS as VIDEO_FORMATS

LEVELS = {1: "attributes", 2: "behaviour", 3: "context", 4: "prediction", 5: "emotion"}
# One table of ad formats: the video pipeline's (pipelines/video/specs.py). Tones are the voice
# pipeline's presets (pipelines/voice/config.py TONES); choose_tone names only those.
FORMATS: tuple[str, ...] = tuple(VIDEO_FORMATS)
# fmt: off
CHANNEL_FORMATS = {
    "tiktok": "9:16", "reels": "9:16", "stories": "9:16", "youtube_shorts": "9:16", "zalo": "9:16",
    "instagram_feed": "4:5", "feed": "4:5", "facebook_feed": "1:1", "email": "1:1", "display": "1:1",
    "youtube": "16:9",
}
INTENT_VARIANTS = {
    "browsing": "promo", "comparing": "comparison", "support": "support", "ready_to_buy": "offer",
    "lapsed": "winback",
}
# fmt: on
W_FAVOURITE, W_PURCHASED, W_VIEWED = 1.0, 0.8, 0.4
LOW_ENGAGEMENT = 0.35


@dataclass(frozen=True)
class Decision:
    """One personalization decision: level (1-5), the plan field it sets, the value, and why."""

    level: int
    field: str
    value: str
    reason: str

    @property
    def level_name(self) -> str:
        return LEVELS[self.level]


@dataclass(frozen=True)
class PersonalizationPlan:
    """What to render for one customer, and why (``decisions``, ordered by level)."""

    customer_id: str
    first_name: str
    sku: str
    product_name: str
    colourway: str
    colour_hex: str
    accent: str
    language: str
    tone: str
    template_variant: str
    format: str
    offer: str | None
    offer_text: str
    currency: str
    price_text: str
    copy_key: str
    copy: Mapping[str, str]
    decisions: tuple[Decision, ...] = field(default_factory=tuple)

    def reason(self, field_name: str) -> str:
        """The reason recorded for ``field_name`` (KeyError if none)."""
        for d in self.decisions:
            if d.field == field_name:
                return d.reason
        raise KeyError(field_name)

    def decision(self, field_name: str) -> Decision:
        for d in self.decisions:
            if d.field == field_name:
                return d
        raise KeyError(field_name)

    def merge_data(self) -> dict[str, Any]:
        """Nested merge data for video templates: customer.*, product.*, offer.*, copy.*."""
        return {
            "customer": {"first_name": self.first_name, "id": self.customer_id, "language": self.language},
            "product": {
                "sku": self.sku,
                "name": self.product_name,
                "price": self.price_text,
                "colourway": self.colourway,
                "colour": self.colour_hex,
            },
            "offer": {"id": self.offer or "", "text": self.offer_text},
            "copy": dict(self.copy),
        }

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["copy"] = dict(self.copy)
        out["decisions"] = [
            {
                "level": d.level,
                "level_name": d.level_name,
                "field": d.field,
                "value": d.value,
                "reason": d.reason,
            }
            for d in self.decisions
        ]
        return out


def personalize(
    profile: CustomerProfile,
    catalogue: Catalogue,
    copy_deck: CopyDeck,
    *,
    registry: Any | None = None,
    formats: Sequence[str] = FORMATS,
    candidates: Sequence[str] | None = None,
) -> PersonalizationPlan:
    """Build the plan for one customer. ``registry`` is the voice accent registry (loaded if None).

    ``formats`` are the formats the campaign renders; ``candidates`` restricts the products.
    Raises ``PipelineInputError`` (with ``field``) for profile data that cannot be used.
    """
    for f in formats:
        if f not in FORMATS:
            raise unknown_choice("format", f, FORMATS, field="formats")
    if not formats:
        raise PipelineInputError(f"formats is empty; allowed: {', '.join(FORMATS)}", field="formats")
    decisions: list[Decision] = []

    # Level 1: attributes.
    decisions.append(
        Decision(1, "first_name", profile.first_name, "greeting uses the first name from the audience row")
    )
    if profile.age_band:
        src = f"age {profile.age}" if profile.age is not None else "age_band column"
        decisions.append(Decision(1, "age_band", profile.age_band, f"{src} -> band {profile.age_band}"))
    country = profile.country
    if profile.language:
        language, why = profile.language, f"language column says {profile.language!r}"
    elif country == "VN":
        language, why = "vi", f"location {profile.location!r} is in Vietnam"
    else:
        where = f"location {profile.location!r}" if profile.location else "no location"
        language, why = "en", f"{where} is outside Vietnam -> English"
    if language not in copy_deck.copy:
        fallback = "en" if "en" in copy_deck.copy else copy_deck.languages[0]
        why += f"; copy deck has no {language!r} copy -> {fallback}"
        language = fallback
    decisions.append(Decision(1, "language", language, why))
    currency = CURRENCY_BY_COUNTRY.get(country or "", "VND" if language == "vi" else "USD")
    accent, accent_reason = _resolve_accent(profile.location, language, registry)
    decisions.append(Decision(1, "accent", accent, accent_reason))

    # Level 4: prediction (decided before the colourway, which depends on the product).
    product, product_reason = next_best_product(profile, catalogue, list(candidates) if candidates else None)
    decisions.append(Decision(4, "sku", product.sku, product_reason))
    used_currency, price_text = product.price_text(currency)
    cur_reason = f"market of {country or 'unknown country'} -> {currency}"
    if used_currency != currency:
        cur_reason += f"; {product.sku} has no {currency} price -> {used_currency}"
    decisions.append(Decision(1, "currency", used_currency, cur_reason))

    # Level 2: behaviour.
    colourway, colour_reason = choose_colourway(profile, catalogue, product)
    decisions.append(Decision(2, "colourway", colourway, colour_reason))
    offer, offer_reason = _offer(profile, copy_deck)
    decisions.append(Decision(2, "offer", offer or "none", offer_reason))

    # Level 3: context / intent.
    fmt, fmt_reason = choose_format(profile.channel, profile.device, formats)
    decisions.append(Decision(3, "format", fmt, fmt_reason))
    variant = INTENT_VARIANTS[profile.intent]
    decisions.append(
        Decision(3, "template_variant", variant, f"session intent {profile.intent!r} -> {variant!r} variant")
    )

    # Level 5: emotion.
    tone, tone_reason = choose_tone(profile)
    decisions.append(Decision(5, "tone", tone, tone_reason))

    values = {
        "first_name": profile.first_name,
        "product": product.name(language),
        "colourway": colourway,
        "price": price_text,
        "offer": copy_deck.offer_text(offer, language),
        "feature": product.features.get(language) or product.features.get("en", ""),
    }
    copy_key, copy = copy_deck.render(language, variant, tone, values)
    decisions.append(Decision(3, "copy", copy_key, f"copy deck entry for language/variant/tone = {copy_key}"))
    decisions.sort(key=lambda d: d.level)
    return PersonalizationPlan(
        customer_id=profile.customer_id,
        first_name=profile.first_name,
        sku=product.sku,
        product_name=product.name(language),
        colourway=colourway,
        colour_hex=product.colourways[colourway],
        accent=accent,
        language=language,
        tone=tone,
        template_variant=variant,
        format=fmt,
        offer=offer,
        offer_text=values["offer"],
        currency=used_currency,
        price_text=price_text,
        copy_key=copy_key,
        copy=copy,
        decisions=tuple(decisions),
    )


def _resolve_accent(location: str, language: str, registry: Any | None) -> tuple[str, str]:
    from pipelines.voice.accents import load_registry, resolve_accent

    reg = registry if registry is not None else _default_registry(load_registry)
    choice = resolve_accent(location, reg, language=language)
    return str(choice.accent_id), str(choice.reason)


@functools.lru_cache(maxsize=1)
def _default_registry(loader: Any) -> Any:
    return loader()


def taste_points(
    profile: CustomerProfile, catalogue: Catalogue
) -> list[tuple[str, str, tuple[float, float, float], float]]:
    """(label, hex, lab, weight) of every colour signal; unknown favourite colours raise."""
    from pipelines._common.colors import parse_color

    points = []
    for spec in profile.favourite_colors:
        try:
            color = parse_color(spec)
        except PipelineInputError as exc:
            raise PipelineInputError(f"favourite_colors: {exc.message}", field="favourite_colors") from exc
        points.append((f"favourite {spec!r}", color.hex, color.lab, W_FAVOURITE))
    view_weight = W_VIEWED * (0.75 + 0.75 * profile.engagement)  # 0.3 .. 0.6: engaged viewers count more
    for inter, weight, verb in [(i, W_PURCHASED, "purchased") for i in profile.purchased] + [
        (i, view_weight, "viewed") for i in profile.viewed
    ]:
        if not inter.colourway:
            continue
        hexv = catalogue.get(inter.sku).colourways.get(inter.colourway)
        if hexv is None:
            continue
        color = parse_color(hexv)
        points.append((f"{verb} {inter.sku} in {inter.colourway}", color.hex, color.lab, weight))
    return points


def choose_colourway(profile: CustomerProfile, catalogue: Catalogue, product: Product) -> tuple[str, str]:
    """The product colourway nearest (ΔE00 / signal weight) to the customer's taste, and why."""
    from pipelines._common.colors import delta_e00, parse_color

    points = taste_points(profile, catalogue)
    if not points:
        return product.hero_colourway, (
            f"no colour signals (favourites, coloured views or purchases) -> hero colourway {product.hero_colourway!r}"
        )
    best: tuple[float, str, float, str] | None = None
    per_way: dict[str, float] = {}
    for name, hexv in product.colourways.items():
        lab = parse_color(hexv).lab
        for label, _hex, tlab, weight in points:
            de = delta_e00(lab, tlab)
            score = (de + 1.0) / weight  # +1: exact matches still rank by signal strength
            per_way[name] = min(per_way.get(name, math.inf), de)
            if best is None or score < best[0] - 1e-9:
                best = (score, name, de, label)
    assert best is not None
    _, name, de, label = best
    others = ", ".join(f"{n} {v:.1f}" for n, v in per_way.items() if n != name)
    reason = (
        f"{name} {product.colourways[name]} is nearest to {label} (ΔE00 {de:.1f}) among "
        f"{len(product.colourways)} real colourways of {product.sku}"
    )
    if others:
        reason += f"; nearest ΔE00 of the others: {others}"
    return name, reason


def choose_format(channel: str, device: str, allowed: Sequence[str]) -> tuple[str, str]:
    """Aspect ratio for the channel/device, restricted to the campaign's formats."""
    if channel in CHANNEL_FORMATS:
        preferred, why = CHANNEL_FORMATS[channel], f"channel {channel!r}"
    else:  # web and other device-led placements
        preferred = {"mobile": "9:16", "tablet": "4:5", "desktop": "16:9", "tv": "16:9"}[device]
        why = f"channel {channel!r} on {device}"
    if device == "tv":
        preferred, why = "16:9", f"{why} on a TV screen"
    if preferred in allowed:
        return preferred, f"{why} -> {preferred}"
    target = _ratio(preferred)
    chosen = min(allowed, key=lambda f: abs(math.log(_ratio(f) / target)))
    return (
        chosen,
        f"{why} prefers {preferred}, campaign renders only {', '.join(allowed)} -> nearest {chosen}",
    )


def _ratio(fmt: str) -> float:
    w, h = fmt.split(":")
    return float(w) / float(h)


def choose_tone(profile: CustomerProfile) -> tuple[str, str]:
    """Tone for copy and voice from the message sentiment, intent and age band."""
    s = analyze(profile.message)
    said = f"message sentiment {s.score:+.2f} {s.label} ({s.evidence()})"
    if s.label == "negative":
        return "empathetic", f"{said} -> empathetic"
    if profile.intent == "support":
        return "calm", f"support intent, {said} -> calm and helpful"
    if s.label == "positive" and (s.arousal >= 0.3 or s.score >= 0.6):
        return "energetic", f"{said}, arousal {s.arousal:.2f} -> energetic"
    if s.label == "positive":
        return "calm", f"{said}, low arousal {s.arousal:.2f} -> calm"
    young = profile.age_band in ("13-17", "18-24", "25-34")
    if not profile.message:
        said = "no message"
    if young:
        return "energetic", f"{said}; default for age band {profile.age_band} -> energetic"
    band = profile.age_band or "unknown"
    return "calm", f"{said}; default for age band {band} -> calm"


def _offer(profile: CustomerProfile, deck: CopyDeck) -> tuple[str | None, str]:
    if profile.intent == "lapsed" or profile.engagement < LOW_ENGAGEMENT:
        offer, why = (
            "comeback",
            f"engagement {profile.engagement:.2f} < {LOW_ENGAGEMENT} or lapsed -> win-back offer",
        )
    elif profile.intent == "ready_to_buy":
        offer, why = "freeship", "ready to buy (cart) -> free-delivery nudge"
    else:
        return None, f"engagement {profile.engagement:.2f} and intent {profile.intent!r} need no incentive"
    if offer not in deck.offers:
        return None, f"{why}, but the copy deck defines no {offer!r} offer -> none"
    return offer, why


def plan_summary(plan: PersonalizationPlan) -> Mapping[str, str]:
    """Flat one-line-per-field view of a plan (for tables and CSV)."""
    return {d.field: f"{d.value} — {d.reason}" for d in plan.decisions}
