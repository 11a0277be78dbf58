"""Customer profile parsed from one audience row (CSV, JSONL or Parquet, already decoded).

Columns (only ``customer_id`` and ``first_name`` are required):

- ``customer_id``, ``first_name``, ``age`` (13-120) or ``age_band`` ("25-34"), ``location``
  ("Huế", "Glasgow, Scotland", "Kingston, Jamaica"), ``language`` (vi|en; default from location)
- ``viewed`` / ``purchased``: SKUs, most recent first, separated by ``;`` or ``|``; each may name
  the colourway seen: ``TEE-LOTUS:Jade``. JSON rows may give lists.
- ``favourite_colors``: names (English or Vietnamese: "đỏ", "xanh lá") or hex, ``;``-separated
- ``engagement``: low|medium|high or a number in [0, 1]
- ``channel`` (tiktok, reels, instagram_feed, facebook_feed, youtube, zalo, email, web, ...),
  ``device`` (mobile|desktop|tablet|tv), ``intent`` (browsing|comparing|support|ready_to_buy|lapsed)
- ``message``: a recent message or review, any language

Errors are ``PipelineInputError`` with ``field`` set to the column name.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines._common.errors import PipelineInputError, unknown_choice
from pipelines.personalization.catalogue import Catalogue
from pipelines.personalization.sentiment import fold

# fmt: off
CHANNELS = (
    "tiktok", "reels", "stories", "youtube_shorts", "zalo", "instagram_feed", "facebook_feed",
    "feed", "youtube", "email", "web", "display",
)
CHANNEL_ALIASES = {
    "instagram": "instagram_feed", "ig": "instagram_feed", "facebook": "facebook_feed", "fb": "facebook_feed",
    "shorts": "youtube_shorts", "instagram_reels": "reels", "ig_reels": "reels", "yt": "youtube",
}
DEVICES = ("mobile", "desktop", "tablet", "tv")
INTENTS = ("browsing", "comparing", "support", "ready_to_buy", "lapsed")
INTENT_ALIASES = {"compare": "comparing", "browse": "browsing", "cart": "ready_to_buy",
                  "checkout": "ready_to_buy", "help": "support", "complaint": "support", "inactive": "lapsed"}
LANGUAGES = ("vi", "en")
ENGAGEMENT_LEVELS = {"low": 0.2, "medium": 0.5, "high": 0.85}
AGE_BANDS = ((13, 17, "13-17"), (18, 24, "18-24"), (25, 34, "25-34"), (35, 44, "35-44"), (45, 54, "45-54"),
             (55, 64, "55-64"), (65, 120, "65+"))
_BAND_RE = re.compile(r"^\s*(\d{2})\s*[-–]\s*(\d{2,3})\s*$|^\s*(\d{2})\s*\+\s*$")

# Location -> (country code, currency). Folded (diacritic-free, lower-case) keys.
_PLACES: dict[str, str] = {
    "ha noi": "VN", "hanoi": "VN", "hai phong": "VN", "hue": "VN", "thua thien hue": "VN", "da nang": "VN",
    "danang": "VN", "quang nam": "VN", "hoi an": "VN", "tp.hcm": "VN", "tp hcm": "VN", "tphcm": "VN",
    "hcm": "VN", "ho chi minh": "VN", "ho chi minh city": "VN", "thanh pho ho chi minh": "VN",
    "sai gon": "VN", "saigon": "VN",
    "can tho": "VN", "nha trang": "VN", "vietnam": "VN", "viet nam": "VN", "vn": "VN",
    "us": "US", "usa": "US", "united states": "US", "new york": "US", "nyc": "US", "brooklyn": "US",
    "california": "US", "los angeles": "US", "texas": "US", "houston": "US", "chicago": "US", "seattle": "US",
    "uk": "GB", "united kingdom": "GB", "england": "GB", "london": "GB", "manchester": "GB", "bristol": "GB",
    "scotland": "GB", "glasgow": "GB", "edinburgh": "GB", "aberdeen": "GB", "wales": "GB", "cardiff": "GB",
    "jamaica": "JM", "kingston": "JM", "montego bay": "JM",
}
CURRENCY_BY_COUNTRY = {"VN": "VND", "US": "USD", "GB": "GBP", "JM": "USD"}
# fmt: on


@dataclass(frozen=True)
class Interaction:
    """A viewed or purchased SKU, optionally with the colourway the customer saw or bought."""

    sku: str
    colourway: str | None = None


@dataclass(frozen=True)
class CustomerProfile:
    """Everything the personalizer may use about one customer (see module docstring)."""

    customer_id: str
    first_name: str
    age: int | None = None
    age_band: str | None = None
    location: str = ""
    language: str | None = None
    viewed: tuple[Interaction, ...] = ()
    purchased: tuple[Interaction, ...] = ()
    favourite_colors: tuple[str, ...] = ()
    engagement: float = 0.5
    channel: str = "tiktok"
    device: str = "mobile"
    intent: str = "browsing"
    message: str = ""

    @property
    def country(self) -> str | None:
        """ISO country code guessed from ``location`` (None when unknown)."""
        return country_of(self.location)

    @classmethod
    def from_row(cls, row: Mapping[str, Any], *, catalogue: Catalogue | None = None) -> CustomerProfile:
        """Parse and validate one row; SKUs and colourways are checked against ``catalogue``."""
        cid = _text(row.get("customer_id") or row.get("id"))
        if not cid:
            raise PipelineInputError("customer_id is required", field="customer_id")
        if len(cid) > 128:
            raise PipelineInputError("customer_id is longer than 128 characters", field="customer_id")
        first = _text(row.get("first_name") or row.get("name"))
        if not first:
            raise PipelineInputError("first_name is required", field="first_name")
        if len(first) > 64:
            raise PipelineInputError("first_name is longer than 64 characters", field="first_name")
        age, band = _age(row.get("age"), row.get("age_band"))
        language = _text(row.get("language")).lower() or None
        if language is not None:
            language = language.split("-")[0].split("_")[0]
            if language not in LANGUAGES:
                raise unknown_choice("language", language, LANGUAGES, field="language")
        channel = _choice(row.get("channel"), CHANNELS, CHANNEL_ALIASES, "channel", "tiktok")
        device = _choice(
            row.get("device"),
            DEVICES,
            {"phone": "mobile", "pc": "desktop", "laptop": "desktop"},
            "device",
            "mobile",
        )
        intent = _choice(row.get("intent"), INTENTS, INTENT_ALIASES, "intent", "browsing")
        return cls(
            customer_id=cid,
            first_name=first,
            age=age,
            age_band=band,
            location=_text(row.get("location")),
            language=language,
            viewed=_interactions(row.get("viewed") or row.get("viewed_skus"), "viewed", catalogue),
            purchased=_interactions(row.get("purchased") or row.get("purchased_skus"), "purchased", catalogue),
            favourite_colors=tuple(_split(row.get("favourite_colors") or row.get("favorite_colors"))),
            engagement=_engagement(row.get("engagement")),
            channel=channel,
            device=device,
            intent=intent,
            message=_text(row.get("message"))[:2000],
        )


def country_of(location: str) -> str | None:
    """Country code for a location string: tries the whole string, then each comma part, last first."""
    if not location:
        return None
    parts = [location, *reversed(location.split(","))]
    for part in parts:
        key = re.sub(r"\s+", " ", fold(part).strip())
        if key in _PLACES:
            return _PLACES[key]
        if key.upper() in CURRENCY_BY_COUNTRY:
            return key.upper()
    return None


def age_band_of(age: int) -> str:
    for lo, hi, band in AGE_BANDS:
        if lo <= age <= hi:
            return band
    raise PipelineInputError(f"age {age} outside 13-120", field="age")


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return unicodedata.normalize("NFC", str(value)).strip()


def _split(value: Any) -> list[str]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_text(v) for v in value if _text(v)]
    if hasattr(value, "tolist"):  # numpy arrays from Parquet list columns
        return _split(value.tolist())
    return [p.strip() for p in re.split(r"[;|]", _text(value)) if p.strip()]


def _choice(value: Any, allowed: Sequence[str], aliases: Mapping[str, str], field: str, default: str) -> str:
    text = _text(value).lower().replace(" ", "_").replace("-", "_")
    if not text:
        return default
    text = aliases.get(text, text)
    if text not in allowed:
        raise unknown_choice(field, text, allowed, field=field)
    return text


def _age(age: Any, band: Any) -> tuple[int | None, str | None]:
    age_text = _text(age)
    if age_text:
        try:
            value = int(float(age_text))
        except (ValueError, OverflowError):  # "abc", "nan", "1e400"
            raise PipelineInputError(f"age {age_text!r} is not a number (13-120)", field="age") from None
        if not 13 <= value <= 120:
            raise PipelineInputError(f"age {value} outside the allowed 13-120", field="age")
        return value, age_band_of(value)
    band_text = _text(band)
    if not band_text:
        return None, None
    m = _BAND_RE.match(band_text)
    if not m:
        raise PipelineInputError(f"age_band {band_text!r} must look like '25-34' or '65+'", field="age_band")
    return None, band_text.replace(" ", "").replace("–", "-")


def _engagement(value: Any) -> float:
    text = _text(value).lower()
    if not text:
        return 0.5
    if text in ENGAGEMENT_LEVELS:
        return ENGAGEMENT_LEVELS[text]
    try:
        num = float(text)
    except ValueError:
        raise PipelineInputError(
            f"engagement {text!r} must be low|medium|high or a number in [0, 1]", field="engagement"
        ) from None
    if not 0.0 <= num <= 1.0 or math.isnan(num):
        raise PipelineInputError(f"engagement {num} outside [0, 1]", field="engagement")
    return num


def _interactions(value: Any, field: str, catalogue: Catalogue | None) -> tuple[Interaction, ...]:
    out = []
    for item in _split(value):
        sku, _, colourway = item.partition(":")
        sku, colourway = sku.strip(), colourway.strip()
        if catalogue is not None:
            sku = catalogue.get(sku, field=field).sku
            if colourway:
                colourway = catalogue.colourway_name(sku, colourway, field=field)
        out.append(Interaction(sku, colourway or None))
    return tuple(out)
