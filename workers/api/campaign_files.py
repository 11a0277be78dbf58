"""A creative team's own campaign files over HTTP: catalogue, copy deck, template and images,
uploaded as multipart parts or named by asset id (``<part>_asset`` fields), laid out in a
per-campaign folder the runner reads.

Nothing here ever opens a path the caller wrote: uploads are asset ids in the tenant's store,
copied under ``<data_dir>/api-uploads/<tenant>/files-<hash>/`` by their bare file names, and every
file a catalogue or template refers to must be one of those uploads (or, for a template's media,
a file shipped under the server's ``assets/templates``); anything else is a 422 naming the field.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

from workers.api.context import ApiContext
from workers.api.errors import ApiError

FILE_PARTS = ("catalogue", "copy", "template")
IMAGE_PART = "images"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,120}$")
_MEDIA_KEYS = ("src", "image", "mask", "font")


def safe_filename(name: str | None, field: str) -> str:
    """The bare file name of an upload; 422 when it is not a plain name."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    if not _NAME_RE.match(base) or base in (".", ".."):
        raise ApiError(422, f"{field}: file name {name!r} must be a plain name (letters, digits, '._- ')",
                       field=field)
    return base


def materialise(ctx: ApiContext, tenant: str, files: dict[str, list[tuple[str, str]]]) -> dict[str, Path]:
    """Copy the uploads (part -> [(file name, asset id)]) into one folder; returns part -> path for
    catalogue / copy / template. Checks that the catalogue's images and masks and the template's
    media are among the uploads (template media may also name files shipped with the server)."""
    from pipelines._common.data import ASSETS_DIR

    if not any(files.values()):
        return {}
    digest = hashlib.sha256(repr(sorted((k, sorted(v)) for k, v in files.items())).encode()).hexdigest()[:16]
    folder = ctx.settings.data_dir / "api-uploads" / tenant / f"files-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    names: set[str] = set()
    for part, items in files.items():
        for filename, asset_id in items:
            if filename in names:
                raise ApiError(422, f"two uploads are named {filename!r}; file names must be unique", field=part)
            names.add(filename)
            dest = folder / filename
            if not dest.is_file():
                shutil.copyfile(ctx.assets.path(asset_id), dest)
            if part in FILE_PARTS:
                if part in out:
                    raise ApiError(422, f"send one {part!r} file", field=part)
                out[part] = dest
    if "catalogue" in out:
        _check_catalogue(out["catalogue"], folder)
    if "template" in out:
        _rewrite_template(out["template"], folder, (ASSETS_DIR / "templates").resolve())
    return out


def _load_yaml(path: Path, field: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ApiError(422, f"{field} is not valid YAML/JSON: {exc}", field=field) from None


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


def _rewrite_template(path: Path, folder: Path, shipped: Path) -> None:
    """Media references become uploads in ``folder`` or absolute files under ``shipped``."""
    import yaml

    data = _load_yaml(path, "template")
    if not isinstance(data, dict):
        raise ApiError(422, "template must be a mapping", field="template")

    def fix(node: Any, where: str) -> Any:
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                here = f"{where}.{k}"
                if k in _MEDIA_KEYS and isinstance(v, str) and not v.startswith("#"):
                    out[k] = _media(v, here)
                else:
                    out[k] = fix(v, here)
            return out
        if isinstance(node, list):
            return [fix(v, f"{where}[{i}]") for i, v in enumerate(node)]
        return node

    def _media(value: str, where: str) -> str:
        if "/" not in value and "\\" not in value and (folder / value).is_file():
            return value
        cand = (shipped / value).resolve()
        if cand.is_relative_to(shipped.parent) and cand.is_file():
            return str(cand)
        raise ApiError(422, f"{where}: {value!r} is neither an uploaded file nor a file shipped with the server's "
                       "templates", field=where)

    fixed = fix(data, "template")
    path.write_text(yaml.safe_dump(fixed, allow_unicode=True, sort_keys=False), encoding="utf-8")
