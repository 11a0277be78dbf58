"""A creative team's own campaign files over HTTP: catalogue, copy deck, template and images,
uploaded as multipart parts or named by asset id (``<part>_asset`` fields).

Nothing here ever opens a path the caller wrote: uploads are asset ids in the tenant's store.
The catalogue and copy deck are copied under ``<data_dir>/api-uploads/<tenant>/files-<hash>/``
with the images by their bare file names, and every image a catalogue names must be one of those
uploads. The template becomes an asset whose media ``src`` values naming uploads are replaced by
their asset ids; every other ``src`` is then checked by ``workers.resolver`` like any uploaded
template's (registry names or the tenant's asset ids, never a path). Bad references are a 422
naming the field.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from pipelines._common.data import load_data_file
from workers.api.context import ApiContext
from workers.api.errors import ApiError

FILE_PARTS = ("catalogue", "copy", "template")
IMAGE_PART = "images"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,120}$")


def safe_filename(name: str | None, field: str) -> str:
    """The bare file name of an upload; 422 when it is not a plain name."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    if not _NAME_RE.match(base) or base in (".", ".."):
        raise ApiError(422, f"{field}: file name {name!r} must be a plain name (letters, digits, '._- ')",
                       field=field)
    return base


def materialise(ctx: ApiContext, tenant: str, files: dict[str, list[tuple[str, str]]]) -> dict[str, str]:
    """The team's uploads (part -> [(file name, asset id)]) as spec values: ``catalogue`` and
    ``copy`` -> files in one upload folder (catalogue images next to them), ``template`` -> the
    asset id of the template with its uploaded media replaced by asset ids."""
    if not any(files.values()):
        return {}
    digest = hashlib.sha256(repr(sorted((k, sorted(v)) for k, v in files.items())).encode()).hexdigest()[:16]
    folder = ctx.settings.data_dir / "api-uploads" / tenant / f"files-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, str] = {}
    by_name: dict[str, str] = {}
    template_id: str | None = None
    for part, items in files.items():
        for filename, asset_id in items:
            if filename in by_name:
                raise ApiError(422, f"two uploads are named {filename!r}; file names must be unique", field=part)
            by_name[filename] = asset_id
            if part in out or (part == "template" and template_id is not None):
                raise ApiError(422, f"send one {part!r} file", field=part)
            if part == "template":
                template_id = asset_id
                continue
            dest = folder / filename
            if not dest.is_file():
                ctx.assets.export(asset_id, dest)
            if part in FILE_PARTS:
                out[part] = str(dest)
    if "catalogue" in out:
        _check_catalogue(Path(out["catalogue"]), folder)
    if template_id is not None:
        out["template"] = _template_asset(ctx, tenant, template_id, by_name)
    return out


def _load_yaml(path: Path, field: str) -> Any:
    """A tenant's YAML/JSON upload through the project's bounded loader (size, aliases, depth);
    a bad one is a PipelineInputError naming ``field`` (422)."""
    return load_data_file(path, field=field)


def _check_catalogue(path: Path, folder: Path) -> None:
    data = _load_yaml(path, "catalogue")
    products = data.get("products") if isinstance(data, dict) else None
    if not isinstance(products, list):
        raise ApiError(422, "catalogue must have a 'products' list", field="catalogue")
    for i, product in enumerate(products):
        if not isinstance(product, dict):
            continue
        for key in ("image", "mask"):
            value = product.get(key)
            if value is None:
                continue
            where = f"catalogue.products[{i}].{key}"
            base = value.replace("\\", "/").rsplit("/", 1)[-1] if isinstance(value, str) else ""
            if not base or not _NAME_RE.match(base) or not (folder / base).is_file():
                raise ApiError(422, f"{where}: {value!r} must name an uploaded image "
                               f"(send it as an 'images' part or its asset id in 'images_asset')", field=where)
            product[key] = base  # resolved next to the catalogue, in the upload folder
    import yaml

    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _template_asset(ctx: ApiContext, tenant: str, template_id: str, by_name: dict[str, str]) -> str:
    """Store the template with every ``src`` that names an upload replaced by its asset id."""
    import yaml

    data = _load_yaml(ctx.assets.path(template_id), "template")
    if not isinstance(data, dict):
        raise ApiError(422, "template must be a mapping", field="template")

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: fix(v) for k, v in node.items()}
            src = out.get("src")
            if isinstance(src, str) and src in by_name:
                out["src"] = by_name[src]
            return out
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    text = yaml.safe_dump(fix(data), allow_unicode=True, sort_keys=False).encode("utf-8")
    ref = ctx.assets.put(text, "application/yaml", filename="template.yaml")
    ctx.store.add_asset_owner(ref.id, tenant)
    return ref.id
