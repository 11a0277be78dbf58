"""Video ad templates: the schema, loading, merge-field substitution and validation.

The schema is a set of **pydantic** models rather than the dataclasses DESIGN.md asks for in
pipelines/: a template is untrusted user input read from YAML/JSON, every unknown key must be
reported (``extra="forbid"``), and the published JSON Schema (assets/templates/template.schema.json,
see ``template_json_schema``) is generated from these same models so the docs can never drift.
Lengths are pixels at a reference short side of 1080 and scale with the canvas; boxes are
fractions (0-1) of the layer's region (the platform safe area by default, or the full canvas).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipelines._common.data import ASSETS_DIR, load_data_file
from pipelines._common.errors import PipelineInputError
from pipelines.video import merge
from pipelines.video.specs import AD_SPECS, FORMATS, check_duration

AUTO_SCENE_DEFAULT = 3.0  # seconds an ``auto`` scene lasts when there is no voiceover


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_color(value: str) -> str:
    if "{{" in value:
        return value
    from pipelines.video.colors import parse_color

    parse_color(value)  # raises ValueError with the allowed forms
    return value


Color = Annotated[
    str,
    AfterValidator(_check_color),
    Field(description="#RGB, #RRGGBB, #RRGGBBAA or a CSS colour name; merge fields allowed"),
]


class Box(_Model):
    """A rectangle as fractions of the layer's region (safe area or full canvas)."""

    x: float = Field(0.0, ge=-1.0, le=2.0)
    y: float = Field(0.0, ge=-1.0, le=2.0)
    w: float = Field(1.0, gt=0.0, le=3.0)
    h: float = Field(1.0, gt=0.0, le=3.0)


Easing = Literal["linear", "ease_in", "ease_out", "ease_in_out", "back_out", "sine_in_out"]


class Animation(_Model):
    """An enter or exit animation of a layer."""

    type: Literal["fade", "slide_up", "slide_down", "slide_left", "slide_right", "pop", "zoom_in", "zoom_out"] = "fade"
    duration: float = Field(0.4, gt=0.0, le=5.0)
    delay: float = Field(0.0, ge=0.0, description="enter: seconds after the layer starts; exit: before it ends")
    ease: Easing | None = Field(None, description="easing curve (default: ease_out; pop always overshoots)")


class Keyframe(_Model):
    """Position offset / scale / opacity reached at ``t`` (seconds since the layer appeared)."""

    t: float = Field(ge=0.0)
    x: float = Field(0.0, description="horizontal offset (px at 1080)")
    y: float = Field(0.0, description="vertical offset (px at 1080)")
    scale: float = Field(1.0, gt=0.0, le=5.0)
    opacity: float = Field(1.0, ge=0.0, le=1.0)
    ease: Easing = Field("ease_in_out", description="curve from the previous keyframe to this one")


class Motion(_Model):
    """Continuous gentle motion over the layer's whole life (so no shot is ever a still)."""

    type: Literal["drift", "zoom", "turntable", "float"]
    amount: float = Field(0.06, ge=0.0, le=0.5, description="zoom: extra scale reached (0.06 = +6 %)")
    distance: float = Field(40.0, ge=0.0, le=600.0, description="drift/sway/bob distance (px at 1080)")
    angle: float = Field(0.0, ge=-360.0, le=360.0, description="drift direction in degrees (0 = right, 90 = down)")
    period: float = Field(4.0, gt=0.2, le=60.0, description="seconds per sway/bob cycle")


class Gradient(_Model):
    """A linear gradient fill: colours spread evenly along ``angle`` (0 = left to right, 90 = top down)."""

    colors: list[Color] = Field(min_length=2, max_length=6)
    angle: float = Field(90.0, ge=-360.0, le=360.0)


class ImageMask(_Model):
    """Clip an image to a rounded rectangle or a circle (ellipse inscribed in the fitted image)."""

    shape: Literal["rounded", "circle"] = "rounded"
    radius: float = Field(40.0, ge=0.0, description="corner radius for 'rounded' (px at 1080)")


class FormatOverride(_Model):
    """Per-format layout change for one layer (e.g. a different box on 16:9)."""

    box: Box | None = None
    region: Literal["safe", "full"] | None = None
    hidden: bool = False


class _LayerBase(_Model):
    id: str | None = None
    box: Box = Box()
    region: Literal["safe", "full"] = Field("safe", description="box is relative to the safe area or full canvas")
    opacity: float = Field(1.0, ge=0.0, le=1.0)
    start: float = Field(0.0, ge=0.0, description="seconds into the scene the layer appears")
    end: float | None = Field(None, gt=0.0, description="seconds into the scene it disappears (default: scene end)")
    enter: Animation | None = None
    exit: Animation | None = None
    keyframes: list[Keyframe] = Field(default_factory=list, description="eased offset/scale/opacity keys")
    motion: Motion | None = None
    formats: dict[str, FormatOverride] = Field(default_factory=dict)

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, v: dict[str, FormatOverride]) -> dict[str, FormatOverride]:
        bad = [k for k in v if k not in FORMATS]
        if bad:
            raise ValueError(f"unknown format(s) {bad}; allowed: {', '.join(FORMATS)}")
        return v


class KenBurns(_Model):
    """Slow zoom/pan over the layer's duration."""

    zoom_from: float = Field(1.0, ge=1.0, le=3.0)
    zoom_to: float = Field(1.15, ge=1.0, le=3.0)
    pan_x: float = Field(0.0, ge=-1.0, le=1.0, description="fraction of the spare width to travel")
    pan_y: float = Field(0.0, ge=-1.0, le=1.0)


class ShapeLayer(_LayerBase):
    type: Literal["shape"]
    shape: Literal["rect", "ellipse"] = "rect"
    color: Color = "#FFFFFF"
    gradient: Gradient | None = Field(None, description="fill with a gradient instead of 'color'")
    radius: float = Field(0.0, ge=0.0, le=4000.0, description="corner radius (px at 1080)")


class ImageLayer(_LayerBase):
    type: Literal["image"]
    src: str = Field(description="path relative to the template's folder or assets/, or a merge field")
    fit: Literal["cover", "contain"] = "cover"
    ken_burns: KenBurns | None = None
    mask: ImageMask | None = None


class LogoLayer(_LayerBase):
    type: Literal["logo"]
    src: str
    fit: Literal["cover", "contain"] = "contain"
    mask: ImageMask | None = None


class ProductLayer(_LayerBase):
    """The recolored product slot: filled by ``VideoAdParams.product_image`` (or ``src``).

    The product is shown as a cutout: the image's alpha channel when it has one, else the
    render's ``product_mask`` (or a ``<name>.mask.png`` next to the image), else an automatic
    studio-backdrop mask. ``trim`` crops to the product before fitting so it fills its box.
    """

    type: Literal["product"]
    src: str | None = Field(None, description="fallback image when the render gives no product image")
    fit: Literal["cover", "contain"] = "contain"
    shadow: bool | Literal["drop", "contact"] = Field(
        True, description="true/'drop': soft drop shadow; 'contact': soft ellipse where it stands; false: none"
    )
    cutout: Literal["auto", "alpha", "none"] = Field(
        "auto", description="auto: alpha, else mask file, else studio-backdrop mask; alpha: alpha only; none: opaque"
    )
    trim: bool = Field(True, description="crop to the product's bounding box before fitting")
    color: Color | None = Field(None, description="recolor the product to this colour (exact-colour recolor)")
    ken_burns: KenBurns | None = None
    mask: ImageMask | None = None


class SwatchesLayer(_LayerBase):
    """A row of colourway dots (e.g. the colours a product comes in); the selected one is ringed."""

    type: Literal["swatches"]
    colors: list[str] = Field(
        min_length=1, max_length=12, description="colours; merge fields allowed, a merged value may list several with ','"
    )
    selected: Color | None = Field(None, description="colour to ring (matched case-insensitively)")
    shape: Literal["circle", "rounded"] = "circle"
    ring_color: Color = "#FFFFFF"
    size: float = Field(72.0, gt=0.0, le=400.0, description="dot diameter (px at 1080); shrinks to fit the box")
    gap: float = Field(28.0, ge=0.0, description="space between dots (px at 1080)")


class Stroke(_Model):
    width: float = Field(4.0, ge=0.0, le=200.0)
    color: Color = "#000000"


class Shadow(_Model):
    dx: float = Field(0.0, ge=-1000.0, le=1000.0)
    dy: float = Field(6.0, ge=-1000.0, le=1000.0)
    blur: float = Field(8.0, ge=0.0, le=500.0)
    color: Color = "#000000A0"


class TextBackground(_Model):
    color: Color = "#000000B0"
    padding: float = Field(24.0, ge=0.0, le=1000.0)
    radius: float = Field(16.0, ge=0.0, le=4000.0)


class TextLayer(_LayerBase):
    type: Literal["text"]
    text: str
    font_weight: str = "Bold"
    size: float = Field(80.0, gt=0.0, le=2000.0, description="font size (px at 1080); shrinks to fit the box")
    min_size: float = Field(
        28.0, gt=0.0, le=2000.0, description="smallest size auto-fit may use before overflow is an error"
    )
    color: Color = "#FFFFFF"
    stroke: Stroke | None = None
    shadow: Shadow | None = None
    background: TextBackground | None = None
    align: Literal["left", "center", "right"] = "center"
    valign: Literal["top", "middle", "bottom"] = "middle"
    max_lines: int = Field(3, ge=1, le=20)
    line_spacing: float = Field(1.15, ge=0.8, le=3.0)
    letter_spacing: float = Field(0.0, ge=-20.0, le=100.0, description="extra space between letters (px at 1080)")
    gradient: Gradient | None = Field(None, description="fill the letters with a gradient instead of 'color'")
    font: str | None = Field(None, description="a font name from the template's 'fonts' (default: bundled family)")
    uppercase: bool = False


class VideoLayer(_LayerBase):
    type: Literal["video"]
    src: str
    fit: Literal["cover", "contain"] = "cover"
    trim_start: float = Field(0.0, ge=0.0)
    trim_end: float | None = Field(None, gt=0.0)
    loop: bool = True
    mask: ImageMask | None = None


Layer = Annotated[
    ShapeLayer | ImageLayer | LogoLayer | ProductLayer | SwatchesLayer | TextLayer | VideoLayer,
    Field(discriminator="type"),
]


class Transition(_Model):
    """How this scene replaces the previous one (at its start; total duration unchanged)."""

    type: Literal["crossfade", "slide_left", "slide_right", "slide_up", "slide_down", "wipe", "zoom"] = "crossfade"
    duration: float = Field(0.4, gt=0.0, le=3.0)


class Scene(_Model):
    id: str
    duration: float | Literal["auto"] = Field(
        description="seconds, or 'auto' = share the voiceover's length with the other auto scenes"
    )
    max_duration: float | None = Field(
        None, ge=0.2, le=300,
        description="seconds this scene may stretch to so the voiceover fits (default: no stretch; "
        "a voiceover that does not fit is an error, never cut)",
    )
    background: Color | None = None
    transition: Transition | None = None
    layers: list[Layer] = Field(default_factory=list)

    @field_validator("duration")
    @classmethod
    def _positive(cls, v: float | str) -> float | str:
        if isinstance(v, float | int) and not 0.2 <= v <= 300:
            raise ValueError("scene duration must be between 0.2 and 300 seconds, or 'auto'")
        return v


class MusicTrack(_Model):
    src: str
    volume_db: float = Field(-16.0, le=6.0, description="bed level relative to full scale before the mix")
    duck_db: float = Field(-12.0, le=0.0, description="extra attenuation while the voice speaks")
    fade_in: float = Field(0.5, ge=0.0)
    fade_out: float = Field(1.5, ge=0.0)


class SoundEffect(_Model):
    src: str
    at: float = Field(0.0, ge=0.0, description="seconds from the start of the scene (or the ad)")
    scene: str | None = Field(None, description="scene id 'at' is relative to; default: the ad start")
    volume_db: float = Field(-6.0, le=6.0)


class AudioSpec(_Model):
    music: MusicTrack | None = None
    sfx: list[SoundEffect] = Field(default_factory=list)
    voice_db: float = Field(0.0, le=12.0)
    voice_offset: float = Field(0.3, ge=0.0, le=10.0, description="seconds of the ad before the voice starts")
    target_lufs: float = Field(-16.0, ge=-40.0, le=-5.0)
    true_peak_db: float = Field(-1.0, ge=-12.0, le=0.0)


class CaptionSpec(_Model):
    style: Literal["sentence", "words", "none"] = "sentence"
    font_weight: str = "Bold"
    font: str | None = Field(None, description="a font name from the template's 'fonts'")
    size: float = Field(56.0, gt=0.0, le=2000.0)
    min_size: float = Field(30.0, gt=0.0, le=2000.0)
    color: Color = "#FFFFFF"
    highlight_color: Color = "#FFD400"
    box: Box = Box(x=0.0, y=0.78, w=1.0, h=0.22)
    background: TextBackground | None = TextBackground(color="#000000A0", padding=18, radius=14)
    stroke: Stroke | None = Stroke(width=3, color="#000000")
    max_lines: int = 2


class Locale(_Model):
    lang: str = "vi"
    currency: str = "VND"
    date_format: str = "%d/%m/%Y"


class FieldDoc(_Model):
    description: str = ""
    example: Any = None
    required: bool = True


class Template(_Model):
    """A video ad template. Strings may contain merge fields until ``merge_template`` fills them."""

    name: str
    version: int = 1
    description: str = ""
    fps: int = Field(30, ge=1, le=60)
    formats: list[str] = Field(default_factory=lambda: ["9:16"], description="formats this template supports")
    spec: str | None = Field(None, description="ad-spec preset to check durations against (e.g. tiktok)")
    background: Color = "#000000"
    poster_at: float | None = Field(
        None, ge=0.0, description="poster frame time (default: after the first scene's entrances)"
    )
    locale: Locale = Locale()
    fields: dict[str, FieldDoc] = Field(default_factory=dict, description="documentation of merge fields used")
    fonts: dict[str, str] = Field(
        default_factory=dict,
        description="brand fonts: name -> font file (TTF/OTF) relative to the template folder or assets/; "
        "text layers pick one with 'font'",
    )
    scenes: list[Scene] = Field(min_length=1)
    audio: AudioSpec = AudioSpec()
    captions: CaptionSpec = CaptionSpec()

    # Not part of the schema: where relative media paths resolve from (set by load_template).
    base_dir: Path | None = Field(None, exclude=True, json_schema_extra={"hidden": True})
    # Not part of the schema: when set (by the caller's resolver), the ONLY media a render may
    # open: merged ``src`` value -> file. No filesystem lookup happens for a src missing here.
    media: dict[str, Path] | None = Field(None, exclude=True, json_schema_extra={"hidden": True})

    @field_validator("formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        bad = [f for f in v if f not in FORMATS]
        if bad:
            raise ValueError(f"unknown format(s) {bad}; allowed: {', '.join(FORMATS)}")
        return v

    @field_validator("spec")
    @classmethod
    def _spec(cls, v: str | None) -> str | None:
        if v is not None and v not in AD_SPECS:
            raise ValueError(f"unknown ad spec {v!r}; allowed: {', '.join(AD_SPECS)}")
        return v

    @field_validator("fonts")
    @classmethod
    def _fonts(cls, v: dict[str, str]) -> dict[str, str]:
        for name, src in v.items():
            # Fonts are asset names (relative to the template's folder or assets/), never server paths.
            if "{{" in src:
                continue
            parts = Path(src).parts
            if Path(src).is_absolute() or ".." in parts or not src.lower().endswith((".ttf", ".otf")):
                raise ValueError(
                    f"font {name!r}: {src!r} must be a .ttf/.otf file name relative to the template folder "
                    "or assets/ (no absolute paths, no '..')"
                )
        return v

    @model_validator(mode="after")
    def _font_names(self) -> Template:
        names = set(self.fonts)
        for scene in self.scenes:
            for li, layer in enumerate(scene.layers):
                if isinstance(layer, TextLayer) and layer.font is not None and layer.font not in names:
                    allowed = ", ".join(sorted(names)) or "none declared (add a top-level 'fonts' mapping)"
                    raise ValueError(
                        f"scene '{scene.id}' layer {layer.id or li}: unknown font {layer.font!r}; allowed: {allowed}"
                    )
        if self.captions.font is not None and self.captions.font not in names:
            raise ValueError(f"captions.font: unknown font {self.captions.font!r}; allowed: {', '.join(sorted(names))}")
        return self


# ---------------------------------------------------------------- loading


def _format_pydantic(exc: ValidationError, source: str) -> list[str]:
    out = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not part of the template schema; see docs/templates.md)"
        elif err["type"] == "union_tag_invalid":
            msg = f"unknown layer type; allowed: {', '.join(sorted(_LAYER_TYPES))}"
        out.append(f"{source}: {loc}: {msg}")
    return out


_LAYER_TYPES = ("shape", "image", "logo", "product", "swatches", "text", "video")


def template_from_dict(raw: Any, *, base_dir: Path | None = None, source: str = "template") -> Template:
    """Build a ``Template`` from parsed YAML/JSON; all schema errors at once in one PipelineInputError."""
    if not isinstance(raw, dict):
        raise PipelineInputError(f"{source}: top level must be a mapping, got {type(raw).__name__}", field="template")
    try:
        tpl = Template.model_validate(raw)
    except ValidationError as exc:
        errors = _format_pydantic(exc, source)
        raise PipelineInputError(
            f"{len(errors)} error(s) in {source}:\n" + "\n".join(f"- {e}" for e in errors), field="template"
        ) from exc
    return tpl.model_copy(update={"base_dir": base_dir}) if base_dir is not None else tpl


def load_template(path: str | Path) -> Template:
    """Load a YAML or JSON template; relative media paths resolve from its folder, then assets/."""
    p = Path(path)
    raw = load_data_file(p, field="template")
    return template_from_dict(raw, base_dir=p.resolve().parent, source=p.name)


def template_json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the template format, generated from the models."""
    schema = Template.model_json_schema(mode="validation")
    schema["properties"].pop("base_dir", None)
    schema["properties"].pop("media", None)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://maydo.dev/schemas/video-template.json"
    schema["title"] = "maydo video ad template"
    return schema


def write_json_schema(path: Path) -> Path:
    """Write the JSON Schema file (used by ``make_media.py`` and kept in git)."""
    from pipelines._common.files import atomic_write_bytes

    text = json.dumps(template_json_schema(), indent=2, ensure_ascii=False) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


# ---------------------------------------------------------------- merge


def merge_template(
    template: Template, data: Mapping[str, Any], *, ctx: merge.MergeContext | None = None
) -> tuple[Template, merge.MergeContext]:
    """Fill merge fields everywhere; returns the merged template and the context with errors."""
    ctx = ctx or merge.MergeContext(currency=template.locale.currency, date_format=template.locale.date_format)
    raw = template.model_dump(mode="json", exclude={"base_dir", "media", "fields"})
    merged_raw = merge.render_tree(raw, data, ctx)
    merged_raw["fields"] = template.model_dump(mode="json")["fields"]
    try:
        merged = Template.model_validate(merged_raw)
    except ValidationError as exc:
        ctx.errors.extend(_format_pydantic(exc, "merged template"))
        return template, ctx
    return merged.model_copy(update={"base_dir": template.base_dir, "media": template.media}), ctx


def resolve_font(name: str | None, template: Template, assets_root: Path | None = None) -> Path | None:
    """File of the template font ``name`` (None = the bundled family); PipelineInputError when missing."""
    if name is None:
        return None
    src = template.fonts.get(name)
    path = resolve_asset(src, template, assets_root) if src is not None else None
    if path is None:
        raise PipelineInputError(f"fonts.{name}: font file not found: {src}", field="template")
    return path


def resolve_asset(src: str, template: Template, assets_root: Path | None = None) -> Path | None:
    """Find a media file: absolute, relative to the template, to ``assets_root``, or to assets/.

    A template carrying a ``media`` map (set by a server-side resolver) resolves only through it:
    a ``src`` not in the map is "not found", whatever exists on disk.
    """
    if template.media is not None:
        return template.media.get(src)
    p = Path(src)
    if p.is_absolute():
        return p if p.is_file() else None
    for root in (template.base_dir, assets_root, ASSETS_DIR):
        if root is not None and (Path(root) / p).is_file():
            return Path(root) / p
    return None


# ---------------------------------------------------------------- validation


@dataclass
class ValidationReport:
    """All problems found before a render: errors block it, warnings do not."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self, what: str = "template") -> None:
        """Raise one PipelineInputError listing every error."""
        if self.errors:
            raise PipelineInputError(
                f"{len(self.errors)} error(s) in {what}:\n" + "\n".join(f"- {e}" for e in self.errors),
                field="template",
            )

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "errors": list(self.errors), "warnings": list(self.warnings)}


VOICE_TAIL = 0.3  # seconds of picture after the voiceover ends when scenes stretch to fit it


def plan_durations(template: Template, voice_duration: float | None) -> list[float]:
    """Seconds per scene: fixed ones as written; ``auto`` ones share the voiceover's length.

    A voiceover that would run past the last frame (``audio.voice_offset`` + its length > the
    total) stretches the scenes that declare ``max_duration`` (in proportion to their headroom)
    so it ends ``VOICE_TAIL`` s before the end; if they cannot stretch enough it is a
    PipelineInputError (field ``voiceover``) — never a silent cut.
    """
    fixed = [s.duration for s in template.scenes if s.duration != "auto"]
    n_auto = sum(1 for s in template.scenes if s.duration == "auto")
    fixed_total = float(sum(float(d) for d in fixed))  # type: ignore[arg-type]
    auto_each = AUTO_SCENE_DEFAULT
    if n_auto and voice_duration:
        auto_each = max(1.0, (voice_duration + 0.6 - fixed_total) / n_auto)
    out = [auto_each if s.duration == "auto" else float(s.duration) for s in template.scenes]
    if not voice_duration:
        return out
    voice_end = template.audio.voice_offset + voice_duration
    total = sum(out)
    if voice_end <= total + 1e-6:
        return out
    want = voice_end + VOICE_TAIL - total
    room = [max(0.0, (s.max_duration or 0.0) - d) if s.duration != "auto" else 0.0
            for s, d in zip(template.scenes, out, strict=True)]
    headroom = sum(room)
    if headroom + 1e-6 < voice_end - total:
        stretchable = [f"{s.id} (max_duration {s.max_duration:g}s)" for s in template.scenes if s.max_duration]
        raise PipelineInputError(
            f"voiceover ends at {voice_end:.2f}s (voice_offset {template.audio.voice_offset:g}s + "
            f"{voice_duration:.2f}s) but the scenes last {total:.2f}s"
            + (f" and may stretch only to {total + headroom:.2f}s ({', '.join(stretchable)})" if stretchable
               else " and no scene declares max_duration to stretch")
            + "; shorten the script or raise a scene's max_duration",
            field="voiceover",
        )
    take = min(want, headroom)
    return [d + take * r / headroom if headroom else d for d, r in zip(out, room, strict=True)]


_MEDIA_KEYS = ("src",)


def validate_template(
    template: Template,
    data: Mapping[str, Any],
    *,
    assets_root: Path | None = None,
    formats: list[str] | None = None,
    voice_duration: float | None = None,
    product_image: str | Path | None = None,
) -> ValidationReport:
    """Check a template against merge data before any render; collects every error and warning.

    Errors: merge fields with no value and no default, unknown filters, bad merged values,
    missing media files, formats the template does not support, text that overflows its box even
    at ``min_size``, durations outside the template's ad spec. Warnings: data given but unused,
    fields documented but unused, texts that had to shrink, layers extending past the safe area.
    """
    from pipelines.video.glyphs import glyph_problem
    from pipelines.video.text import fit_text

    report = ValidationReport()
    merged, ctx = merge_template(template, data)
    report.errors.extend(ctx.errors)

    wanted = formats or template.formats
    for fmt in wanted:
        if fmt not in FORMATS:
            report.errors.append(f"unknown format {fmt!r}; allowed: {', '.join(FORMATS)}")
        elif fmt not in template.formats:
            report.warnings.append(f"format {fmt} not listed in the template's formats {template.formats}")
    good_formats = [f for f in wanted if f in FORMATS]

    # Media files.
    has_product = product_image is not None
    if has_product and not Path(product_image).is_file():  # type: ignore[arg-type]
        report.errors.append(f"product image not found: {product_image}")
    for si, scene in enumerate(merged.scenes):
        for li, layer in enumerate(scene.layers):
            where = f"scenes[{si}] '{scene.id}' layer {layer.id or li} ({layer.type})"
            src = getattr(layer, "src", None)
            if layer.type == "product" and src is None and not has_product:
                report.errors.append(f"{where}: product slot has no image: pass product_image or set 'src'")
            missing = src and "{{" not in src and resolve_asset(src, merged, assets_root) is None
            if missing and not (layer.type == "product" and has_product):
                report.errors.append(f"{where}: media file not found: {src}")
            if layer.end is not None and layer.end <= layer.start:
                report.errors.append(f"{where}: end ({layer.end}) must be after start ({layer.start})")
    if merged.audio.music and resolve_asset(merged.audio.music.src, merged, assets_root) is None:
        report.errors.append(f"audio.music: media file not found: {merged.audio.music.src}")
    scene_ids = {s.id for s in merged.scenes}
    for i, sfx in enumerate(merged.audio.sfx):
        if resolve_asset(sfx.src, merged, assets_root) is None:
            report.errors.append(f"audio.sfx[{i}]: media file not found: {sfx.src}")
        if sfx.scene is not None and sfx.scene not in scene_ids:
            report.errors.append(f"audio.sfx[{i}]: unknown scene {sfx.scene!r}; scenes: {', '.join(scene_ids)}")
    if len(scene_ids) != len(merged.scenes):
        report.errors.append("scene ids must be unique")

    # Media decode (cached per file): audio in any format ffmpeg reads; video layers give frames.
    from pipelines.video.media_check import check_media

    report.errors.extend(check_media(merged, assets_root))

    # Durations.
    try:
        durations = plan_durations(merged, voice_duration)
    except PipelineInputError as exc:
        report.errors.append(exc.message)
        durations = plan_durations(merged, None)
    total = sum(durations)
    if merged.spec:
        for p in check_duration(AD_SPECS[merged.spec], total):
            report.errors.append(f"{p} (template spec {merged.spec})")
    if any(s.duration == "auto" for s in merged.scenes) and voice_duration is None:
        report.warnings.append(
            f"'auto' scenes last {AUTO_SCENE_DEFAULT:g}s each without a voiceover (total {total:.1f}s)"
        )
    for si, (scene, dur) in enumerate(zip(merged.scenes, durations, strict=True)):
        if scene.transition and scene.transition.duration >= dur:
            report.errors.append(f"scenes[{si}] '{scene.id}': transition longer than the scene ({dur:g}s)")
        for li, layer in enumerate(scene.layers):
            if layer.start >= dur:
                report.warnings.append(f"scenes[{si}] '{scene.id}' layer {layer.id or li} starts after the scene ends")

    # Glyph coverage: characters the font cannot draw render blank (e.g. an arrow '→').
    bad_weight: set[int] = set()
    for si, scene in enumerate(merged.scenes):
        for li, layer in enumerate(scene.layers):
            if not isinstance(layer, TextLayer):
                continue
            where = f"scenes[{si}] '{scene.id}' layer {layer.id or li} (text)"
            try:
                font_file = resolve_font(layer.font, merged, assets_root)
                problem = glyph_problem(
                    layer.text.upper() if layer.uppercase else layer.text, layer.font_weight, font_file, layer.font or ""
                )
            except PipelineInputError as exc:
                report.errors.append(f"{where}: {exc.message}")
                bad_weight.add(id(layer))
                continue
            if problem is not None:
                (report.errors if problem[1] else report.warnings).append(f"{where}: {problem[0]}")

    # Text fit, per format (boxes differ per aspect ratio).
    for fmt in good_formats:
        from pipelines.video.layout import layer_rect

        for si, scene in enumerate(merged.scenes):
            for li, layer in enumerate(scene.layers):
                if not isinstance(layer, TextLayer) or id(layer) in bad_weight:
                    continue
                rect = layer_rect(layer, fmt, 1.0)
                if rect is None:
                    continue
                fit = fit_text(layer, rect[2], rect[3], scale=1.0)
                where = f"scenes[{si}] '{scene.id}' layer {layer.id or li} [{fmt}]"
                if fit.overflow:
                    report.errors.append(
                        f"{where}: text {layer.text!r} overflows its box even at min_size {layer.min_size:g}px "
                        f"(needs {fit.lines_needed} lines, max_lines {layer.max_lines}); shorten it or enlarge the box"
                    )
                elif fit.size < layer.size:
                    report.warnings.append(f"{where}: text shrunk from {layer.size:g}px to {fit.size:g}px to fit")

    # Burned-in captions must not cover another text layer (on any format, at any time).
    if merged.captions.style != "none":
        from pipelines.video.layout import layer_rect, region_rect

        cb = merged.captions.box
        for fmt in good_formats:
            rx, ry, rw, rh = region_rect("safe", fmt, 1.0)
            cap = (rx + cb.x * rw, ry + cb.y * rh, rx + (cb.x + cb.w) * rw, ry + (cb.y + cb.h) * rh)
            for si, scene in enumerate(merged.scenes):
                for li, layer in enumerate(scene.layers):
                    if not isinstance(layer, TextLayer):
                        continue
                    rect = layer_rect(layer, fmt, 1.0)
                    if rect is None:
                        continue
                    ox = min(cap[2], rect[0] + rect[2]) - max(cap[0], rect[0])
                    oy = min(cap[3], rect[1] + rect[3]) - max(cap[1], rect[1])
                    if ox > 0 and oy > 0:
                        report.warnings.append(
                            f"scenes[{si}] '{scene.id}' layer {layer.id or li} [{fmt}]: text box overlaps the caption "
                            f"box by {ox:.0f}x{oy:.0f}px (captions.box y {cb.y:g}-{cb.y + cb.h:g} of the safe area); "
                            "move the layer or captions.box, or set captions.style: none"
                        )

    # Fields given but never used; documented fields never used.
    for path in sorted(merge.leaf_paths(data)):
        if not any(path == u or path.startswith(u + ".") or u.startswith(path + ".") for u in ctx.used_paths):
            report.warnings.append(f"data field '{path}' is not used by the template")
    for name in template.fields:
        if name not in ctx.used_paths:
            report.warnings.append(f"documented field '{name}' is not used by any layer")
    return report
