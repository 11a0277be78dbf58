"""Accent registry (configs/voices.yaml) and a resolver from customer location to accent.

The registry says, per accent, which engine and voice speak it, the default rate/pitch, the
licence and whether commercial use is allowed. The resolver maps a free-text location — a
Vietnamese province or city (with or without diacritics: "Ha Noi", "HCM", "Sài Gòn"), a
country, a UK nation or city, a US state or NYC, a Caribbean country — to an accent id and
says why, so campaign reports can show the reason next to each voice.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines._common.data import CONFIG_DIR, load_data_file
from pipelines._common.errors import PipelineInputError

DEFAULT_REGISTRY_PATH = CONFIG_DIR / "voices.yaml"
LANGUAGES = ("vi", "en")
ENGINES = ("espeak", "flite", "piper", "coqui")
WER_GOAL = 0.15  # word error rate above which a voice is labelled hard to follow (bench/voice.py)


def intelligibility_note(wer: float | None, quality: str = "") -> str:
    """The label shown next to a voice whose measured WER is above ``WER_GOAL``:
    (0.45, 'robotic') -> 'robotic, WER 0.45'; '' for a voice within the goal or never measured."""
    if wer is None or wer <= WER_GOAL:
        return ""
    return f"{quality or 'hard to follow'}, WER {wer:.2f}"


@dataclass(frozen=True)
class EngineVoice:
    """One engine's voice for an accent, with its own licence terms and measured intelligibility
    (``wer``: word error rate of bench/voice.py's offline ASR on its ad scripts, 0..1; None =
    not measured; ``note``: 'robotic, WER 0.45' when above ``WER_GOAL``)."""

    engine: str
    voice: str
    licence: str
    commercial_use: bool
    wer: float | None = None
    quality: str = ""
    note: str = ""
    rate: float | None = None  # this voice's own tuning (espeak per accent); None = the accent's
    pitch: float | None = None
    word_gap_ms: float | None = None


@dataclass(frozen=True)
class AccentSpec:
    """One regional accent: who speaks it (engine + voice) and on what terms."""

    id: str
    language: str
    dialect: str
    engine: str
    voice: str
    rate: float
    pitch: float
    licence: str
    commercial_use: bool
    sample: str
    label: str = ""
    alternatives: dict[str, EngineVoice] = field(default_factory=dict)
    word_gap_ms: float = 0.0  # extra pause between words (espeak tuning)
    wer: float | None = None  # measured word error rate of the default voice (see EngineVoice)
    quality: str = ""
    note: str = ""

    def engines(self) -> list[str]:
        """Engines able to voice this accent, default first."""
        return [self.engine] + [e for e in self.alternatives if e != self.engine]

    def voice_for(self, engine: str) -> EngineVoice:
        """The voice (and licence) ``engine`` uses for this accent; error lists what exists."""
        if engine == self.engine:
            return EngineVoice(
                self.engine, self.voice, self.licence, self.commercial_use, self.wer, self.quality, self.note
            )
        if engine in self.alternatives:
            return self.alternatives[engine]
        raise PipelineInputError(
            f"accent {self.id!r} has no {engine} voice; engines for it: {', '.join(self.engines())}",
            field="engine",
        )


@dataclass(frozen=True)
class AccentChoice:
    """Resolver result: the accent id and a human-readable reason."""

    accent_id: str
    reason: str
    matched: str | None = None


class VoiceRegistry:
    """Accents by id, loaded from configs/voices.yaml."""

    def __init__(self, accents: dict[str, AccentSpec], defaults: dict[str, str]) -> None:
        self._accents = dict(accents)
        self.defaults = dict(defaults)
        for lang, acc in self.defaults.items():
            if acc not in self._accents:
                raise PipelineInputError(f"voices registry: default for {lang!r} is unknown accent {acc!r}")

    def ids(self) -> list[str]:
        """All accent ids, in registry order."""
        return list(self._accents)

    def get(self, accent_id: str) -> AccentSpec:
        """The accent ``accent_id``; unknown ids raise an error listing the valid ones."""
        key = (accent_id or "").strip()
        if key in self._accents:
            return self._accents[key]
        lowered = {k.lower(): k for k in self._accents}
        if key.lower().replace("_", "-") in lowered:
            return self._accents[lowered[key.lower().replace("_", "-")]]
        raise PipelineInputError(
            f"unknown accent {accent_id!r}; valid accents: {', '.join(self._accents)}", field="accent"
        )

    def default_for(self, language: str) -> AccentSpec:
        if language not in self.defaults:
            raise PipelineInputError(
                f"unknown language {language!r}; allowed: {', '.join(self.defaults)}", field="language"
            )
        return self._accents[self.defaults[language]]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._accents.values())

    def __len__(self) -> int:
        return len(self._accents)


def _spec(accent_id: str, raw: dict[str, Any], path: Path) -> AccentSpec:
    where = f"{path.name}: accent {accent_id!r}"
    missing = [k for k in ("language", "dialect", "engine", "voice", "licence", "commercial_use") if k not in raw]
    if missing:
        raise PipelineInputError(f"{where} is missing {', '.join(missing)}", field="registry")
    if raw["language"] not in LANGUAGES:
        raise PipelineInputError(f"{where}: language must be one of {', '.join(LANGUAGES)}", field="registry")
    if raw["engine"] not in ENGINES:
        raise PipelineInputError(f"{where}: engine must be one of {', '.join(ENGINES)}", field="registry")
    alts: dict[str, EngineVoice] = {}
    for engine, alt in (raw.get("alternatives") or {}).items():
        if engine not in ENGINES or not isinstance(alt, dict) or "voice" not in alt:
            raise PipelineInputError(f"{where}: bad alternative {engine!r}", field="registry")
        wer = _wer(alt.get("wer"), f"{where} alternative {engine!r}")
        quality = str(alt.get("quality", ""))
        alts[engine] = EngineVoice(
            engine, str(alt["voice"]), str(alt.get("licence", "unknown")), bool(alt.get("commercial_use", False)),
            wer, quality, intelligibility_note(wer, quality),
            *(None if alt.get(k) is None else float(alt[k]) for k in ("rate", "pitch", "word_gap_ms")),
        )  # fmt: skip
    wer = _wer(raw.get("wer"), where)
    return AccentSpec(
        id=accent_id,
        language=str(raw["language"]),
        dialect=str(raw["dialect"]),
        engine=str(raw["engine"]),
        voice=str(raw["voice"]),
        rate=float(raw.get("rate", 1.0)),
        pitch=float(raw.get("pitch", 1.0)),
        licence=str(raw["licence"]),
        commercial_use=bool(raw["commercial_use"]),
        sample=str(raw.get("sample", "")),
        label=str(raw.get("label", "")),
        alternatives=alts,
        word_gap_ms=float(raw.get("word_gap_ms", 0.0)),
        wer=wer,
        quality=str(raw.get("quality", "")),
        note=intelligibility_note(wer, str(raw.get("quality", ""))),
    )


def _wer(value: Any, where: str) -> float | None:
    if value is None:
        return None
    try:
        wer = float(value)
    except (TypeError, ValueError):
        wer = -1.0
    if not 0.0 <= wer <= 5.0:
        raise PipelineInputError(f"{where}: wer must be a number 0..5 (word error rate), got {value!r}", field="registry")
    return wer


def load_registry(path: Path | None = None) -> VoiceRegistry:
    """Read the accent registry (default configs/voices.yaml)."""
    p = Path(path) if path is not None else DEFAULT_REGISTRY_PATH
    data = load_data_file(p, field="registry")
    if not isinstance(data, dict) or not isinstance(data.get("accents"), dict) or not data["accents"]:
        raise PipelineInputError(f"{p}: expected a mapping with a non-empty 'accents' section", field="registry")
    accents = {str(k): _spec(str(k), v or {}, p) for k, v in data["accents"].items()}
    defaults = {str(k): str(v) for k, v in (data.get("defaults") or {}).items()}
    for lang in LANGUAGES:
        if lang not in defaults:
            first = next((a.id for a in accents.values() if a.language == lang), None)
            if first:
                defaults[lang] = first
    return VoiceRegistry(accents, defaults)


# ------------------------------------------------------------------------------- location resolver

_VI_NORTH = (
    "ha noi|hanoi|hai phong|haiphong|quang ninh|ha long|halong|bac ninh|bac giang|hai duong|hung yen|thai binh|"
    "nam dinh|ninh binh|ha nam|vinh phuc|phu tho|viet tri|thai nguyen|bac kan|bac can|cao bang|lang son|"
    "tuyen quang|ha giang|lao cai|sa pa|sapa|yen bai|dien bien|lai chau|son la|hoa binh|thanh hoa|mien bac|bac bo"
)
_VI_CENTRAL = (
    "nghe an|vinh|ha tinh|quang binh|dong hoi|quang tri|thua thien hue|hue|da nang|danang|quang nam|hoi an|"
    "tam ky|quang ngai|binh dinh|quy nhon|phu yen|tuy hoa|khanh hoa|nha trang|kon tum|gia lai|pleiku|"
    "dak lak|dac lac|buon ma thuot|buon me thuot|dak nong|mien trung|trung bo"
)
_VI_SOUTH = (
    "ho chi minh|tp ho chi minh|tphcm|tp hcm|hcmc|hcm|sai gon|saigon|thu duc|binh duong|thu dau mot|dong nai|"
    "bien hoa|ba ria vung tau|ba ria|vung tau|tay ninh|binh phuoc|long an|tien giang|my tho|ben tre|tra vinh|"
    "vinh long|dong thap|an giang|long xuyen|chau doc|kien giang|rach gia|phu quoc|can tho|cantho|hau giang|"
    "soc trang|bac lieu|ca mau|lam dong|da lat|dalat|ninh thuan|phan rang|binh thuan|phan thiet|mui ne|"
    "mien nam|nam bo|mien tay"
)
_NYC = "new york city|nyc|new york|manhattan|brooklyn|queens|bronx|the bronx|staten island"
_US_STATES = (
    "alabama|alaska|arizona|arkansas|california|colorado|connecticut|delaware|florida|georgia|hawaii|idaho|"
    "illinois|indiana|iowa|kansas|kentucky|louisiana|maine|maryland|massachusetts|michigan|minnesota|"
    "mississippi|missouri|montana|nebraska|nevada|new hampshire|new jersey|new mexico|new york state|"
    "upstate new york|north carolina|north dakota|ohio|oklahoma|oregon|pennsylvania|rhode island|"
    "south carolina|south dakota|tennessee|texas|utah|vermont|virginia|washington|west virginia|wisconsin|"
    "wyoming|district of columbia|washington dc|los angeles|chicago|houston|san francisco|seattle|boston|"
    "miami"
)
_US_COUNTRY = "usa|us|u s|u s a|united states|united states of america|america|canada"
_US_CODES = [
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
    "DC",
]
_SCOTLAND = "scotland|scottish|edinburgh|glasgow|aberdeen|dundee|inverness|stirling|perth scotland"
_LANCS = "lancashire|lancaster|manchester|liverpool|preston|blackpool|bolton|leeds|yorkshire|sheffield|newcastle"
_WMIDS = "west midlands|birmingham|wolverhampton|coventry|walsall|dudley|black country"
_GB = "london|bristol|brighton|southampton|kent|surrey|cardiff|swansea|belfast|dublin|wales|northern ireland|england"
_GB_COUNTRY = "united kingdom|uk|u k|great britain|britain|ireland|australia|new zealand|india|singapore"
_GB_RP = "oxford|cambridge|received pronunciation"
_CARIBBEAN = (
    "jamaica|kingston jamaica|caribbean|west indies|trinidad|tobago|trinidad and tobago|barbados|bahamas|"
    "guyana|belize|antigua|grenada|st lucia|saint lucia|st kitts|dominica|st vincent|cayman islands|bermuda"
)
_VIETNAM = "viet nam|vietnam|vn"

# (tier, normalised key, accent id, region label); a city beats its nation, a nation its country
_ROWS: list[tuple[int, str, str, str]] = []
for _tier, _keys, _accent, _label in (
    (0, _VI_NORTH, "vi-north", "northern Vietnam"),
    (0, _VI_CENTRAL, "vi-central", "central Vietnam"),
    (0, _VI_SOUTH, "vi-south", "southern Vietnam"),
    (0, _NYC, "en-us-nyc", "New York City"),
    (1, _US_STATES, "en-us", "the United States"),
    (1, _SCOTLAND, "en-scotland", "Scotland"),
    (0, _LANCS, "en-gb-lancs", "Northern England"),
    (0, _WMIDS, "en-gb-wmids", "the West Midlands"),
    (0, _GB_RP, "en-gb-rp", "Oxford/Cambridge (RP)"),
    (1, _GB, "en-gb", "England/Wales/Ireland (standard British voice)"),
    (1, _CARIBBEAN, "en-caribbean", "the Caribbean"),
    (2, _US_COUNTRY, "en-us", "North America"),
    (2, _GB_COUNTRY, "en-gb", "the UK/Commonwealth (standard British voice)"),
    (2, _VIETNAM, "vi-north", "Vietnam (standard northern voice)"),
):
    for _k in _keys.split("|"):
        _ROWS.append((_tier, _k, _accent, _label))
_ROWS.sort(key=lambda row: (row[0], -len(row[1])))  # longest first: "vinh long" before "vinh"
_TABLE = [(k, a, lbl) for _, k, a, lbl in _ROWS]
_PREFIXES = re.compile(r"^(tp|thanh pho|tinh|quan|huyen|thi xa|city of|state of)\s+")


def fold(text: str) -> str:
    """Lower-case, strip Vietnamese diacritics (đ -> d) and punctuation: 'Đà Nẵng' -> 'da nang'."""
    s = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    s = "".join(c for c in s if unicodedata.category(c) != "Mn").lower()
    s = re.sub(r"[^a-z0-9]+", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def _lookup(location: str) -> tuple[str, str, str] | None:
    folded = fold(location)
    folded = _PREFIXES.sub("", folded)
    padded = f" {folded} "
    compact = folded.replace(" ", "")
    for key, accent, label in _TABLE:
        if f" {key} " in padded or (" " in key and compact == key.replace(" ", "")):
            return key, accent, label
    m = re.search(r"(?:,|\s)\s*([A-Z]{2})\s*$", location.strip())
    if m and m.group(1) in _US_CODES:
        return m.group(1), "en-us", "a US state"
    return None


def resolve_accent(location: str | None, registry: VoiceRegistry, *, language: str | None = None) -> AccentChoice:
    """Pick the accent a customer at ``location`` would expect, with the reason.

    ``language`` ('vi' | 'en') forces the script language: a Hanoi customer of an English
    script gets the English default, and the reason says so. Unknown or empty locations fall
    back to the language's default accent (Vietnamese when no language is given).
    """
    if language is not None and language not in LANGUAGES:
        raise PipelineInputError(f"unknown language {language!r}; allowed: {', '.join(LANGUAGES)}", field="language")
    fallback_lang = language or "vi"
    if not location or not location.strip():
        acc = registry.default_for(fallback_lang)
        return AccentChoice(acc.id, f"no location given; default {fallback_lang} accent {acc.id}")
    hit = _lookup(location)
    if hit is None:
        acc = registry.default_for(fallback_lang)
        return AccentChoice(acc.id, f"location {location!r} not recognised; default {fallback_lang} accent {acc.id}")
    key, accent_id, label = hit
    if accent_id not in registry.ids():
        acc = registry.default_for(fallback_lang)
        return AccentChoice(acc.id, f"{location!r} is in {label} but {accent_id} is not in the registry; "
                            f"default {acc.id}", matched=key)  # fmt: skip
    spec = registry.get(accent_id)
    if language is not None and spec.language != language:
        acc = registry.default_for(language)
        return AccentChoice(
            acc.id,
            f"{location!r} is in {label} ({accent_id}) but the script is {language!r}; default {acc.id}",
            matched=key,
        )
    return AccentChoice(accent_id, f"{location!r} matched {key!r}: {label} -> {accent_id}", matched=key)
