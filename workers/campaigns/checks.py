"""Per-row checks shared by ``validate``, every dry run and the runner: what a render would reject.

For each planned audience row, before any recolor/voice/video work:

- the template of the row's variant is found and parses (localised for the row's market);
- every merge field it uses has a value in the row's merge data (:func:`merge_data`) or a
  default — ``{{customer.city}}`` is satisfied by an audience column ``city``;
- media files decode (music bed in any format ffmpeg reads, video layers yield frames after
  their trims), text fits its box, glyphs exist (missing glyphs in on-screen text: a warning when
  some text remains, an error when the text would render blank);
- the voiceover script: emoji and pictographs are dropped from the spoken script (a warning);
  anything else the voice cannot speak is an error; its estimated length must fit the scenes
  (stretching up to each scene's ``max_duration``);
- the campaign's ``music`` decodes.

Every problem of a row is reported (field + message), not only the first.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines._common.errors import PipelineInputError
from workers.limits import estimate_speech_seconds

# Columns the personalizer reads; every other audience column reaches templates as customer.<name>.
_COLUMN_RE = re.compile(r"[^0-9a-z_]+")


def column_key(name: str) -> str:
    """Merge-data key of an audience column: lower case, runs of other characters -> ``_``
    ("Home City" -> ``home_city``, "Thành phố" -> ``th_nh_ph``); empty -> ''."""
    folded = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode().lower()
    return _COLUMN_RE.sub("_", folded).strip("_")


def _cell_text(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, list | tuple):
        return "; ".join(_cell_text(v) for v in value if _cell_text(v))
    if hasattr(value, "tolist"):
        return _cell_text(value.tolist())
    return unicodedata.normalize("NFC", str(value)).strip()


def merge_data(spec: Any, catalogue: Any, plan: Any, columns: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The exact merge data a row's template receives (docs/campaigns.md, "What a template gets").

    ``customer``: first_name, id, language (from the plan) plus every other audience column as
    ``customer.<column_key>`` (text); ``product``: sku, name, price (number, for ``| currency``),
    price_text, colourway, colour; ``offer``: id, text, discount, end_date; ``copy``: headline,
    body, cta, script.
    """
    product = catalogue.get(plan.sku)
    data = plan.merge_data()
    customer = data["customer"]
    for name, value in (columns or {}).items():
        key = column_key(name)
        if key and key not in customer:
            customer[key] = _cell_text(value)
    data["product"]["price"] = product.prices[plan.currency]  # the template's currency filter formats it
    data["product"]["price_text"] = plan.price_text
    label = spec.offer_labels.get(plan.offer or "none", "")
    if isinstance(label, dict):
        label = label.get(plan.language) or label.get("en") or ""
    data["offer"].update({"discount": label, "end_date": spec.offer_end})
    return data


def _pictographic(ch: str) -> bool:
    cp = ord(ch)
    cat = unicodedata.category(ch)
    return (
        cat == "So"
        or cat == "Sk" and 0x1F3FB <= cp <= 0x1F3FF  # skin tones
        or cp in (0x200D, 0xFE0E, 0xFE0F, 0x20E3)  # ZWJ, variation selectors, keycap
        or 0x1F1E6 <= cp <= 0x1F1FF  # regional indicators (flags)
        or 0xE0020 <= cp <= 0xE007F  # tag characters (subdivision flags)
        or 0x1F000 <= cp <= 0x1FAFF and cat.startswith(("S", "C"))
    )


def spoken_script(text: str) -> tuple[str, list[str]]:
    """(script with emoji/pictographs removed, the removed characters in order, unique)."""
    dropped: list[str] = []
    out = []
    for ch in text:
        if _pictographic(ch):
            if ch not in dropped and ord(ch) not in (0x200D, 0xFE0E, 0xFE0F):
                dropped.append(ch)
            out.append(" ")
        else:
            out.append(ch)
    return re.sub(r"[ \t]{2,}", " ", "".join(out)).strip(), dropped


@dataclass
class RowCheck:
    """Problems of one row: (field, message) pairs."""

    errors: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)


_MERGE_PATH_RE = re.compile(r"merge field '([A-Za-z0-9_.]+)'")


class CampaignChecker:
    """Checks rows of one campaign; templates and media are loaded/decoded once per campaign.

    ``resolver`` (``workers.resolver.Resolver``) turns template, music and media references into
    files exactly as the render's will: registry names, or asset ids the caller may use.
    """

    def __init__(self, spec: Any, catalogue: Any, resolver: Any | None = None) -> None:
        from workers.resolver import Resolver

        self.spec = spec
        self.catalogue = catalogue
        self.resolver = resolver or Resolver()
        self._templates: dict[tuple[str, str, str], Any] = {}
        self._resolved: dict[str, Path | PipelineInputError] = {}
        self._music_error: str | None | bool = False  # False = not checked yet

    def template(self, variant: str, language: str, currency: str) -> Any:
        """The localised Template of a market, or the PipelineInputError loading it gave."""
        key = (variant, language, currency)
        if key not in self._templates:
            from pipelines.video.template import template_from_dict
            from workers.campaigns.jobs import localized_template_raw

            try:
                raw, src, ref = localized_template_raw(self.spec, variant, language, currency, self.resolver)
                self._templates[key] = template_from_dict(raw, source=f"template {ref[:40]}")
            except PipelineInputError as exc:
                self._templates[key] = exc
        return self._templates[key]

    def music_error(self) -> str | None:
        if self._music_error is False:
            self._music_error = None
            if self.spec.music:
                from pipelines.video.media_check import audio_problem

                try:
                    p = self.resolver.music(self.spec.music, "music")
                except PipelineInputError as exc:
                    self._music_error = exc.message
                else:
                    problem = audio_problem(p)
                    self._music_error = f"music {self.spec.music!r} {problem}" if problem else None
        return self._music_error if isinstance(self._music_error, str) else None

    def _media(self, tpl: Any, data: Mapping[str, Any], out: RowCheck) -> Any:
        """The template with its ``media`` map (the only files the render may open), as the
        render's resolver builds it; unknown names / foreign assets become row errors. Each
        reference is resolved once per campaign; merge data matters only when a ``src`` has a
        merge field."""
        from workers.resolver import template_media_refs

        written = list(template_media_refs(tpl, None))
        refs = template_media_refs(tpl, data) if any("{{" in src for _, src in written) else written
        media: dict[str, Path] = {}
        for where, src in refs:
            if "{{" in src or src in media:
                continue
            if src not in self._resolved:
                try:
                    self._resolved[src] = self.resolver.media(src, f"template: {where}")
                except PipelineInputError as exc:
                    self._resolved[src] = exc
            found = self._resolved[src]
            if isinstance(found, PipelineInputError):
                out.errors.append(("template", found.message))
            else:
                media[src] = found
        return tpl.model_copy(update={"media": media})

    def check(self, plan: Any, columns: Mapping[str, Any]) -> RowCheck:
        """Every problem a render of this row would hit (see module docstring)."""
        from pipelines.video.template import validate_template

        out = RowCheck()
        if (music := self.music_error()) is not None:
            out.errors.append(("music", music))
        voice_s: float | None = None
        if self.spec.voiceover:
            voice_s = self._check_script(plan, out)
        tpl = self.template(plan.template_variant, plan.language, plan.currency)
        if isinstance(tpl, PipelineInputError):
            out.errors.append((tpl.field or "template", tpl.message))
            return out
        data = merge_data(self.spec, self.catalogue, plan, columns)
        tpl = self._media(tpl, data, out)
        product = self.catalogue.get(plan.sku)
        report = validate_template(
            tpl, data, formats=[plan.format], voice_duration=voice_s, product_image=product.image
        )
        for msg in report.errors:
            m = _MERGE_PATH_RE.search(msg)
            name = m.group(1) if m else ("voiceover" if msg.startswith("voiceover ") else "template")
            if name == "voiceover" and voice_s is not None:
                msg = f"{msg} (length estimated before voicing: {voice_s:g}s)"
            out.errors.append((name, msg))
        for msg in report.warnings:
            if "is not used by the template" in msg or "is not used by any layer" in msg:
                continue  # campaign data always carries more fields than one template shows
            out.warnings.append(("template", msg))
        return out

    def _check_script(self, plan: Any, out: RowCheck) -> float | None:
        from pipelines.voice.prosody import check_characters, plain_text

        script = plan.copy.get("script", "")
        clean, dropped = spoken_script(script)
        if dropped:
            shown = ", ".join(f"{c!r} (U+{ord(c):04X})" for c in dropped[:10])
            out.warnings.append(("copy.script", f"dropped from the spoken script (the voice cannot say them): {shown}"))
        if not clean.strip():
            out.errors.append(("copy.script", "the voiceover script is empty (set copy.script or voiceover: false)"))
            return None
        try:
            check_characters(plain_text(clean))
        except PipelineInputError as exc:
            out.errors.append(("copy.script", f"{plan.copy_key}: {exc.message}"))
        return estimate_speech_seconds(plain_text(clean))
