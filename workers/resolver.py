"""The one place a reference becomes a file.

Everything a job, a template or a campaign refers to is one of two kinds of *reference*:

- **asset id** — 64 lowercase hex characters, the sha256 of a file in the asset store
  (``workers.storage``): an upload (``POST /v1/assets``, a multipart job part), a job's output,
  or a file the CLI ingested at submit (``maydo submit ad --template my.yaml`` stores
  ``my.yaml`` and sends its id). When the resolver is built for a tenant, the asset must belong
  to that tenant (``owns``) or be one of the assets the job was submitted with
  (``allowed_assets``); anything else is *the same answer as a missing asset*, so nothing leaks.
- **registry name** — the name of a file the server ships under ``assets/``:

  ==========  ==================================================  =============================
  registry    names                                               files
  ==========  ==================================================  =============================
  templates   ``product_promo``, ``bumper_6s`` (``.yaml`` ok)      ``assets/templates/*.yaml``
  music       ``bed_upbeat`` or ``music/bed_upbeat.wav``          ``assets/music/*``
  media       ``media/logo.png`` (template media, from            ``assets/templates/<name>``,
              ``assets/templates``) or any path under assets/      then ``assets/<name>``
              (``music/bed_upbeat.wav``, ``demo/images/x.png``)
  fonts       weights: ``Regular``, ``Bold``, ...                 bundled Be Vietnam Pro
  data        ``demo/catalogue.yaml``, ``demo/copy.yaml``          ``assets/<name>`` (.yaml/.json
                                                                   /.csv/.jsonl/.parquet)
  ==========  ==================================================  =============================

A name is never a path: it is refused when it is absolute (``/etc/passwd``, ``C:\\x``,
``~/x``), contains a ``..`` segment, a backslash, a NUL or control character, or a URL scheme,
and the file it names must lie inside ``assets/`` after resolving symlinks. Server paths are
refused *before* anything is opened, with the same message whether the path exists or not.

Shipped (registry) templates are server content: their relative media paths (e.g.
``../music/bed_upbeat.wav``) resolve from their own folder, confined to ``assets/``. A template
that came from a caller (an asset) may use only registry names and asset ids in ``src``.
``Resolver.load_template`` returns a ``Template`` whose ``media`` map lists every file the
render may open (``pipelines.video.template.resolve_asset`` uses only that map), including
``src`` values produced by merge fields, so merge data cannot smuggle a path in either.

Errors: every refusal is a ``RefError`` (a ``PipelineInputError``, so the API answers 422 and
the CLI exits 2) whose ``field`` names the offending field (``params.template``,
``inputs.template: scenes[0].layers[1].src``, ``template``, ...) and whose message says what is
allowed. Output locations are never references: ``out_dir`` and friends are refused by
``check_job_params``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from pipelines._common.errors import PipelineInputError, unknown_choice

if TYPE_CHECKING:
    from pipelines.video.template import Template
    from workers.jobs.models import JobSpec
    from workers.limits import Limits
    from workers.storage.base import AssetStore

__all__ = [
    "RefError",
    "Registry",
    "Resolver",
    "canonical_media_name",
    "check_job_params",
    "check_name",
    "ingest_file",
    "ingest_ref",
    "ingest_template",
    "is_asset_id",
    "prepare_job",
    "template_media_refs",
]

ASSET_ID_RE = re.compile(r"^[0-9a-f]{64}$")
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
MAX_NAME = 200
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json")
MUSIC_SUFFIXES = (".wav", ".mp3", ".flac", ".ogg", ".m4a")
DATA_SUFFIXES = (".yaml", ".yml", ".json", ".csv", ".jsonl", ".ndjson", ".parquet")

# Per-kind parameters that would make the server read or write a caller-chosen location.
# Output locations are chosen by the server; files come in as inputs (asset ids).
_FORBIDDEN_PARAMS: dict[str, dict[str, str]] = {
    "render_ad": {
        "out_dir": "output locations are chosen by the server; outputs come back as asset ids",
        "product_image": "send the product photo as inputs.product_image (an asset id)",
        "voiceover": "voiceovers come from params.voice (rendered by the voice pool)",
        "progress": "not a request parameter",
        "assets_root": "not a request parameter",
    },
    "recolor": {
        "mask": "send the mask as inputs.mask (an asset id)",
        "onnx_model": "segmentation models are configured by the operator (pools.recolor)",
        "out_dir": "output locations are chosen by the server; outputs come back as asset ids",
    },
    "voice": {
        "speaker_wav": "send the reference voice as inputs.speaker_wav (an asset id)",
        "model_dir": "voice models are configured by the operator (pools.voice)",
        "out_dir": "output locations are chosen by the server; outputs come back as asset ids",
    },
}
_BASENAME_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")  # a file-name stem: no '/', no leading '.'


class RefError(PipelineInputError):
    """A reference that is not an allowed asset id or registry name (or names nothing)."""


def _unknown(what: str, name: str, choices: list[str], field: str) -> RefError:
    return RefError(unknown_choice(what, name, choices, field=field).message, field=field)


def is_asset_id(ref: object) -> bool:
    """True for 64 lowercase hex characters (the shape of an asset id; existence not checked)."""
    return isinstance(ref, str) and ASSET_ID_RE.match(ref) is not None


def _refuse(field: str, value: object, what: str) -> RefError:
    shown = repr(value) if len(repr(value)) <= 120 else repr(value)[:117] + "..."
    return RefError(
        f"{field}: {shown} is not allowed; {what}. Server paths (absolute, '..', '~') are never accepted",
        field=field,
    )


def check_name(ref: object, field: str, *, allow_parent: bool = False) -> str:
    """Return ``ref`` if it is shaped like a registry name (or an asset id), else raise ``RefError``.

    Refused: non-strings, empty, longer than 200 characters, control characters, backslashes,
    absolute paths (``/x``, ``~x``, ``C:``), URL schemes and — unless ``allow_parent`` (shipped
    templates only) — any ``..`` segment.
    """
    what = "give a registry name (e.g. 'product_promo', 'media/logo.png') or an asset id"
    if not isinstance(ref, str) or not ref.strip():
        raise _refuse(field, ref, what)
    if len(ref) > MAX_NAME or _CONTROL_RE.search(ref) or "\\" in ref:
        raise _refuse(field, ref, what)
    if ref.startswith(("/", "~")) or _SCHEME_RE.match(ref):
        raise _refuse(field, ref, what)
    parts = PurePosixPath(ref).parts
    if not allow_parent and ".." in parts:
        raise _refuse(field, ref, what)
    return ref


@dataclass(frozen=True)
class Registry:
    """Server-side files by name, all under ``root`` (default: the repository's ``assets/``)."""

    root: Path

    @classmethod
    def default(cls) -> Registry:
        from pipelines._common.data import ASSETS_DIR

        return cls(Path(ASSETS_DIR))

    @property
    def _real_root(self) -> Path:
        return self.root.resolve()

    def _inside(self, path: Path) -> Path | None:
        """``path`` resolved (symlinks too) if it is a file inside the registry root, else None."""
        try:
            real = path.resolve()
        except (OSError, RuntimeError):
            return None
        if not real.is_relative_to(self._real_root) or not real.is_file():
            return None
        return real

    def templates(self) -> dict[str, Path]:
        """Template name -> file (``assets/templates/<name>.yaml``)."""
        folder = self.root / "templates"
        out: dict[str, Path] = {}
        if folder.is_dir():
            for p in sorted(folder.iterdir()):
                if p.suffix in TEMPLATE_SUFFIXES and not p.name.endswith((".schema.json", ".sample.json")):
                    out.setdefault(p.stem, p)
        return out

    def music(self) -> dict[str, Path]:
        """Music bed name -> file (``assets/music/<name>.wav``)."""
        folder = self.root / "music"
        if not folder.is_dir():
            return {}
        return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in MUSIC_SUFFIXES}

    def fonts(self) -> tuple[str, ...]:
        """Font weights a template may name (``font_weight``)."""
        from pipelines._common.fonts import WEIGHTS

        return tuple(WEIGHTS)

    def data_files(self) -> list[str]:
        """Names of shipped data files (catalogues, copy decks, audiences) relative to assets/."""
        out = []
        for p in sorted(self.root.rglob("*")):
            if p.suffix.lower() in DATA_SUFFIXES and p.is_file() and "templates" not in p.relative_to(self.root).parts:
                out.append(p.relative_to(self.root).as_posix())
        return out

    def template(self, name: str, field: str) -> Path:
        check_name(name, field)
        found = self.templates()
        stem = name[: -len(Path(name).suffix)] if Path(name).suffix in TEMPLATE_SUFFIXES else name
        path = found.get(stem)
        real = self._inside(path) if path is not None else None
        if real is None:
            raise _unknown("template", name, sorted(found), field=field)
        return real

    def music_file(self, name: str, field: str) -> Path:
        check_name(name, field)
        found = self.music()
        path = found.get(name)
        if path is None:
            path = found.get(Path(name).stem) if Path(name).parent.as_posix() in ("music", ".") else None
        real = self._inside(path) if path is not None else None
        if real is None:
            raise _unknown("music bed", name, sorted(found), field=field)
        return real

    def media(self, name: str, field: str, *, base_dir: Path | None = None) -> Path:
        """A media file by name: from ``base_dir`` (a shipped template's folder) or
        ``assets/templates``, then ``assets/``; always confined to ``assets/``."""
        check_name(name, field, allow_parent=base_dir is not None)
        bases = [b for b in (base_dir, self.root / "templates", self.root) if b is not None]
        for base in bases:
            real = self._inside(base / name)
            if real is not None:
                return real
        raise RefError(
            f"{field}: no media file {name!r} in the server's registry (assets/templates/media, assets/music, "
            "...) and it is not an asset id; upload the file and use its asset id",
            field=field,
        )

    def data_file(self, name: str, field: str) -> Path:
        check_name(name, field)
        real = self._inside(self.root / name)
        if real is None or real.suffix.lower() not in DATA_SUFFIXES:
            raise _unknown("data file", name, self.data_files(), field=field)
        return real


def canonical_media_name(path: Path, registry: Registry | None = None) -> str | None:
    """The registry name (relative to assets/) of a file inside the registry, else None."""
    reg = registry or Registry.default()
    real = reg._inside(path)
    return None if real is None else real.relative_to(reg._real_root).as_posix()


class Resolver:
    """Turns references into local files for one caller (a tenant's job, the CLI, a campaign).

    ``assets``: the asset store (None: asset ids are refused). ``owns(asset_id) -> bool`` and
    ``allowed_assets`` restrict which asset ids may be used (either passing is enough); with
    neither, any stored asset is allowed (a local CLI user, who owns the whole store).
    """

    def __init__(
        self,
        assets: AssetStore | None = None,
        *,
        owns: Callable[[str], bool] | None = None,
        allowed_assets: Collection[str] | None = None,
        registry: Registry | None = None,
    ) -> None:
        self.assets = assets
        self.owns = owns
        self.allowed_assets = None if allowed_assets is None else frozenset(allowed_assets)
        self.registry = registry or Registry.default()

    # -- single references ---------------------------------------------------------------------

    @property
    def restricted(self) -> bool:
        """True when asset ids are limited to a tenant's (``owns``) or a job's (``allowed_assets``)."""
        return self.owns is not None or self.allowed_assets is not None

    def may_use(self, asset_id: str) -> bool:
        if self.owns is None and self.allowed_assets is None:
            return True
        if self.allowed_assets is not None and asset_id in self.allowed_assets:
            return True
        return self.owns is not None and self.owns(asset_id)

    def asset(self, ref: str, field: str) -> Path:
        """Local file of an asset id the caller may use; ``RefError`` otherwise (same for all)."""
        from workers.storage.base import AssetNotFound

        if not is_asset_id(ref) or self.assets is None:
            raise _refuse(field, ref, "give an asset id (64 hex characters)")
        if not self.may_use(ref):
            raise RefError(f"{field}: no asset {ref!r} in this tenant", field=field)
        try:
            return self.assets.path(ref)
        except AssetNotFound:
            raise RefError(f"{field}: no asset {ref!r} in this tenant", field=field) from None

    def template(self, ref: str, field: str) -> tuple[Path, bool]:
        """``(file, trusted)``: a shipped template by name (trusted) or an uploaded one (asset id)."""
        if is_asset_id(ref):
            return self.asset(ref, field), False
        return self.registry.template(ref, field), True

    def music(self, ref: str, field: str) -> Path:
        if is_asset_id(ref):
            return self.asset(ref, field)
        return self.registry.music_file(ref, field)

    def media(self, ref: str, field: str, *, base_dir: Path | None = None) -> Path:
        if is_asset_id(ref):
            return self.asset(ref, field)
        return self.registry.media(ref, field, base_dir=base_dir)

    def data_file(self, ref: str, field: str) -> Path:
        """A catalogue / copy deck / audience: an asset id or a shipped data file name."""
        if is_asset_id(ref):
            return self.asset(ref, field)
        return self.registry.data_file(ref, field)

    # -- templates -----------------------------------------------------------------------------

    def load_template(
        self, ref: str, field: str, data: Mapping[str, Any] | None = None
    ) -> Template:
        """Parse a template reference and resolve every media ``src`` (also after merging ``data``).

        Returns a ``Template`` with ``media`` set: the render opens only those files. Raises
        ``RefError`` naming ``<field>: <where>.src`` for a server path, an unknown name or a
        foreign asset; ``PipelineInputError`` (field ``template``) for schema errors.
        """
        from pipelines._common.data import load_data_file
        from pipelines.video.template import template_from_dict

        path, trusted = self.template(ref, field)
        try:
            raw = load_data_file(path, field=field)
        except PipelineInputError as exc:  # say which reference and why, never the server path
            detail = exc.message.split(str(path), 1)[1].strip() if str(path) in exc.message else ""
            raise PipelineInputError(
                f"{field}: template {ref!r} is not valid YAML/JSON" + (f" ({detail})" if detail else ""), field=field
            ) from exc
        tpl = template_from_dict(raw, base_dir=None, source=path.name if trusted else f"template {ref[:12]}")
        # Only what a shipped template itself writes may be relative to its folder ('../music/x');
        # values that came from merge data are names like any caller's.
        as_written = {src for _, src in template_media_refs(tpl, None)}
        media: dict[str, Path] = {}
        for where, src in template_media_refs(tpl, data or {}):
            if "{{" in src or src in media:
                continue  # an unfilled merge field: the render reports the merge error itself
            base = path.parent if trusted and src in as_written else None
            media[src] = self.media(src, f"{field}: {where}", base_dir=base)
        return tpl.model_copy(update={"media": media})


def template_media_refs(template: Template, data: Mapping[str, Any] | None) -> Iterator[tuple[str, str]]:
    """``(where, src)`` of every media reference of a template, as written and (unless ``data``
    is None) as merged with ``data`` (merge fields in ``src`` yield the merged value too)."""
    from pipelines.video.template import merge_template

    seen: set[tuple[str, str]] = set()
    versions = [template]
    if data is not None:
        try:
            merged, _ = merge_template(template, data)
            versions.append(merged)
        except PipelineInputError:
            pass
    for tpl in versions:
        for si, scene in enumerate(tpl.scenes):
            for li, layer in enumerate(scene.layers):
                src = getattr(layer, "src", None)
                if isinstance(src, str) and src:
                    item = (f"scenes[{si}].layers[{li}].src", src)
                    if item not in seen:
                        seen.add(item)
                        yield item
        if tpl.audio.music is not None:
            item = ("audio.music.src", tpl.audio.music.src)
            if item not in seen:
                seen.add(item)
                yield item
        for i, sfx in enumerate(tpl.audio.sfx):
            item = (f"audio.sfx[{i}].src", sfx.src)
            if item not in seen:
                seen.add(item)
                yield item


# -- jobs --------------------------------------------------------------------------------------


def check_job_params(kind: str, params: Mapping[str, Any], prefix: str = "params") -> None:
    """Refuse parameters that name a location (``out_dir``, paths in ``mask``/``speaker_wav``...),
    in the job's own params and in a ``render_ad``'s ``recolor``/``voice`` child params."""
    for key, why in _FORBIDDEN_PARAMS.get(kind, {}).items():
        if key in params:
            raise RefError(f"{prefix}.{key}: not a request parameter; {why}", field=f"{prefix}.{key}")
    if kind == "voice" and params.get("voice") is not None:
        check_name(params["voice"], f"{prefix}.voice")  # an engine voice name, never a file path
    if kind == "render_ad":
        for child, child_kind in (("recolor", "recolor"), ("voice", "voice")):
            sub = params.get(child)
            if isinstance(sub, Mapping):
                check_job_params(child_kind, sub, f"{prefix}.{child}")
        basename = params.get("basename")
        if basename is not None and (not isinstance(basename, str) or not _BASENAME_RE.match(basename)):
            raise RefError(
                f"{prefix}.basename must be 1-100 characters of [A-Za-z0-9._-], not starting with '.' "
                f"(a file name stem, not a path), got {basename!r}",
                field=f"{prefix}.basename",
            )
        template = params.get("template")
        if template is not None:
            check_name(template, f"{prefix}.template")
        music = params.get("music")
        if music is not None:
            check_name(music, f"{prefix}.music")


def prepare_job(spec: JobSpec, resolver: Resolver, limits: Limits | None = None) -> JobSpec:
    """Check a job's references and return the spec to queue (refusing anything path-like).

    ``render_ad``: the template (``params.template`` name or ``inputs.template`` asset) is loaded
    and every media ``src`` resolved; asset ids it uses are added to ``inputs`` as
    ``media.<n>`` so the job carries (and the tenant is checked for) every file it will read;
    ``params.music`` must be a music bed name or an asset id the caller may use.
    With ``limits`` (``workers.limits``), every limit that applies is checked too (``LimitError``).
    Raises ``RefError`` / ``PipelineInputError`` naming the field.
    """
    check_job_params(spec.kind, spec.params)
    inputs = dict(spec.inputs)
    paths: dict[str, Path] = {}
    for name, asset_id in inputs.items():
        if resolver.restricted:  # a tenant's request: every input must be one of its assets
            paths[name] = resolver.asset(asset_id, f"inputs.{name}")
        elif resolver.assets is not None and resolver.assets.exists(asset_id):
            paths[name] = resolver.assets.path(asset_id)
    if spec.kind != "render_ad":
        if limits is not None:
            limits.job(spec.kind, spec.params, paths)
        return spec
    ref: Any
    if "template" in inputs:
        ref, field = inputs["template"], "inputs.template"
    else:
        ref, field = spec.params.get("template"), "params.template"
        if not isinstance(ref, str) or not ref:
            raise RefError(
                "render_ad needs params.template (a template name) or inputs.template (an asset id)",
                field="params.template",
            )
    data = spec.params.get("data") or {}
    tpl = resolver.load_template(ref, field, data if isinstance(data, Mapping) else {})
    if limits is not None:
        limits.job(spec.kind, spec.params, paths, tpl)
    used = sorted({s for s in (tpl.media or {}) if is_asset_id(s)})
    present = set(inputs.values())
    n = 0
    for asset_id in used:
        if asset_id in present:
            continue
        while f"media.{n}" in inputs:
            n += 1
        inputs[f"media.{n}"] = asset_id
        present.add(asset_id)
    music = spec.params.get("music")
    if music is not None:
        resolver.music(music, "params.music")
        if is_asset_id(music) and music not in present:
            inputs["music"] = music
    return replace(spec, inputs=inputs)


# -- the CLI: a local user's files go into the asset store at submit -----------------------------


def _media_type(path: Path) -> str:
    import mimetypes

    if path.suffix.lower() in (".yaml", ".yml"):
        return "application/yaml"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def ingest_file(path: Path, store: AssetStore) -> str:
    """Store a local file (CLI only: the user's own disk) and return its asset id."""
    return store.put(path, _media_type(path), filename=path.name).id


def ingest_template(path: Path, store: AssetStore, field: str = "template") -> str:
    """Store a local template for a job (CLI only) and return its asset id.

    Every ``src`` that names a file next to the template (``media/x.png``) is stored too and
    replaced by its asset id; other ``src`` values stay (registry names, asset ids, merge
    fields) and are checked when the job is submitted. Raises ``RefError`` when ``path`` is no file.
    """
    import yaml

    from pipelines._common.data import SAFE_DUMPER, load_data_file

    if not path.is_file():
        raise RefError(f"{field}: file not found: {path}", field=field)
    raw = load_data_file(path, field=field)
    base = path.resolve().parent

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: fix(v) for k, v in node.items()}
            src = out.get("src")
            if isinstance(src, str) and "{{" not in src and not is_asset_id(src):
                local = (base / src) if not Path(src).is_absolute() else Path(src)
                if local.is_file():
                    out["src"] = ingest_file(local, store)
            return out
        if isinstance(node, list):
            return [fix(x) for x in node]
        return node

    text = yaml.dump(fix(raw), Dumper=SAFE_DUMPER, allow_unicode=True, sort_keys=False).encode("utf-8")
    return store.put(text, "application/yaml", filename=path.name).id


def ingest_ref(value: str, store: AssetStore, *, kind: str, field: str, bases: tuple[Path, ...] = ()) -> str:
    """CLI: a reference as the user typed it -> an asset id or a registry name.

    Asset ids and registry names pass through; a local file (absolute, or relative to ``bases``
    then the current directory) is ingested (``kind='template'`` with its media). Anything else
    passes through unchanged, to be refused with a clear message at submit.
    """
    if is_asset_id(value):
        return value
    reg = Registry.default()
    known = reg.templates() if kind == "template" else reg.music() if kind == "music" else {}
    if value in known or (Path(value).stem in known and "/" not in value and "\\" not in value):
        return value
    for base in (*bases, Path.cwd()):
        cand = Path(value) if Path(value).is_absolute() else base / value
        if cand.is_file():
            return ingest_template(cand, store, field) if kind == "template" else ingest_file(cand, store)
    return value
