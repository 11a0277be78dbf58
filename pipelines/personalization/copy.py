"""Copy deck: ad text per language x template variant x tone, plus offer texts.

File format (YAML/JSON)::

    offers:
      comeback: {vi: "Giảm 15% mừng bạn quay lại", en: "15% off to welcome you back"}
    copy:
      vi:
        promo:
          energetic: {headline: "...", body: "...", cta: "...", script: "..."}
          calm: {...}
          default: {...}        # used for any tone without its own entry
        comparison: {default: {...}}
      en: {...}

Placeholders (Python ``{name}`` style): ``{first_name}``, ``{product}``, ``{colourway}``,
``{price}``, ``{offer}``, ``{feature}``. Lookup order for (language, variant, tone):
variant.tone -> variant.default -> promo.tone -> promo.default. Every entry is test-rendered at
load time, so a typo'd placeholder fails when the deck loads, not mid-campaign.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines._common.data import load_data_file
from pipelines._common.errors import PipelineInputError, unknown_choice

COPY_FIELDS = ("headline", "body", "cta", "script")
PLACEHOLDERS = ("first_name", "product", "colourway", "price", "offer", "feature")
FALLBACK_VARIANT = "promo"


@dataclass(frozen=True)
class CopyDeck:
    """Parsed copy deck; use :meth:`render` to fill one entry."""

    copy: Mapping[str, Mapping[str, Mapping[str, Mapping[str, str]]]]
    offers: Mapping[str, Mapping[str, str]]

    @property
    def languages(self) -> list[str]:
        return sorted(self.copy)

    def entry(self, language: str, variant: str, tone: str) -> tuple[str, Mapping[str, str]]:
        """(key used, entry) following the documented fallback order."""
        if language not in self.copy:
            raise unknown_choice("copy language", language, self.copy, field="language")
        variants = self.copy[language]
        for v, t in (
            (variant, tone),
            (variant, "default"),
            (FALLBACK_VARIANT, tone),
            (FALLBACK_VARIANT, "default"),
        ):
            if v in variants and t in variants[v]:
                return f"{language}/{v}/{t}", variants[v][t]
        raise PipelineInputError(
            f"copy deck has no entry for {language}/{variant}/{tone} nor a {FALLBACK_VARIANT} fallback",
            field="copy",
        )

    def offer_text(self, offer: str | None, language: str) -> str:
        if not offer:
            return ""
        texts = self.offers.get(offer)
        if texts is None:
            raise unknown_choice("offer", offer, self.offers, field="offer")
        return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")

    def render(self, language: str, variant: str, tone: str, values: Mapping[str, str]) -> tuple[str, dict[str, str]]:
        """(key used, {headline, body, cta, script}) with placeholders filled; missing fields are ''."""
        key, entry = self.entry(language, variant, tone)
        filled = {name: _fill(entry.get(name, ""), values).strip() for name in COPY_FIELDS}
        # Collapse doubled spaces left by an empty {offer}.
        return key, {k: " ".join(v.split()) for k, v in filled.items()}


def _fill(template: str, values: Mapping[str, str]) -> str:
    return string.Formatter().vformat(template, (), _Defaulting(values))


class _Defaulting(dict[str, str]):
    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)

    def __missing__(self, key: str) -> str:
        return ""


def load_copy_deck(path: str | Path) -> CopyDeck:
    """Load and check a copy deck file (see module docstring)."""
    return copy_deck_from_dict(load_data_file(path, field="copy"))


def copy_deck_from_dict(data: Any) -> CopyDeck:
    if not isinstance(data, Mapping) or not isinstance(data.get("copy"), Mapping):
        raise PipelineInputError("copy deck must be a mapping with a 'copy' section", field="copy")
    copy: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    for lang, variants in data["copy"].items():
        if not isinstance(variants, Mapping):
            raise PipelineInputError(f"copy.{lang} must map variant -> tone -> fields", field="copy")
        copy[str(lang)] = {}
        for variant, tones in variants.items():
            if not isinstance(tones, Mapping):
                raise PipelineInputError(f"copy.{lang}.{variant} must map tone -> fields", field="copy")
            copy[str(lang)][str(variant)] = {}
            for tone, fields in tones.items():
                where = f"copy.{lang}.{variant}.{tone}"
                if not isinstance(fields, Mapping):
                    raise PipelineInputError(f"{where} must map {'/'.join(COPY_FIELDS)} -> text", field="copy")
                clean = {}
                for name, text in fields.items():
                    if name not in COPY_FIELDS:
                        raise unknown_choice(f"copy field in {where}", str(name), COPY_FIELDS, field="copy")
                    _check_placeholders(str(text), f"{where}.{name}")
                    clean[str(name)] = str(text)
                copy[str(lang)][str(variant)][str(tone)] = clean
    offers_raw = data.get("offers") or {}
    if not isinstance(offers_raw, Mapping):
        raise PipelineInputError("offers must map offer id -> {language: text}", field="copy.offers")
    offers: dict[str, dict[str, str]] = {}
    for k, v in offers_raw.items():
        if v is not None and not isinstance(v, Mapping):
            raise PipelineInputError(f"offers.{k} must map language -> text, e.g. {{vi: ..., en: ...}}",
                                     field="copy.offers")
        offers[str(k)] = {str(lk): str(lv) for lk, lv in (v or {}).items()}
    return CopyDeck(copy=copy, offers=offers)


def _check_placeholders(text: str, where: str) -> None:
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(text) if f is not None]
    except ValueError as exc:
        raise PipelineInputError(f"{where}: bad placeholder syntax ({exc})", field="copy") from exc
    for name in names:
        if name not in PLACEHOLDERS:
            raise unknown_choice(f"placeholder in {where}", name, PLACEHOLDERS, field="copy")
