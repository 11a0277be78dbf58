"""Safe image loading: decompression bombs, corrupt files and odd modes become clear errors."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from pipelines._common.errors import PipelineInputError

DEFAULT_MAX_PIXELS = 40_000_000  # ~ 6300 x 6300; settings can lower or raise it
MIN_SIDE = 8
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")

ImageSource = str | Path | bytes | Image.Image | np.ndarray


def load_image(
    source: ImageSource,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    keep_alpha: bool = True,
    field: str = "image",
) -> Image.Image:
    """Load an image as a fully decoded RGB or RGBA ``PIL.Image``.

    Accepts a path, encoded bytes, a PIL image or a uint8 HxWx{3,4} array. Guards against
    decompression bombs (``max_pixels`` checked from the header before decoding), truncated or
    corrupt data, and modes that cannot be shown as RGB; 16-bit, CMYK, palette and greyscale
    images are normalised. EXIF orientation is applied. Animated images (GIF, WebP, APNG) give
    their first frame, with ``info["frames"]`` set (see :func:`animation_warning`).
    Raises ``PipelineInputError``.
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels=max_pixels, keep_alpha=keep_alpha, field=field)
    if isinstance(source, Image.Image):
        _check_size(source.size, max_pixels, field)
        return _normalise(source.copy(), keep_alpha=keep_alpha, field=field)
    name: str
    if isinstance(source, bytes):
        if not source:
            raise PipelineInputError(f"{field}: empty data (0 bytes)", field=field)
        stream: io.BytesIO | Path = io.BytesIO(source)
        name = "<bytes>"
    else:
        path = Path(source)
        if not path.is_file():
            raise PipelineInputError(f"{field}: file not found: {path}", field=field)
        if path.stat().st_size == 0:
            raise PipelineInputError(f"{field}: {path} is empty (0 bytes)", field=field)
        stream = path
        name = str(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img: Image.Image = Image.open(stream)
            _check_size(img.size, max_pixels, field)
            if img.format not in ALLOWED_FORMATS:
                raise PipelineInputError(
                    f"{field}: format {img.format} not supported; allowed: {', '.join(ALLOWED_FORMATS)}",
                    field=field,
                )
            img.load()  # decode now: truncated data fails here, not later
    except PipelineInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PipelineInputError(
            f"{field}: {name} is too large to decode safely ({exc}); limit is {max_pixels} pixels",
            field=field,
        ) from exc
    except UnidentifiedImageError as exc:
        raise PipelineInputError(
            f"{field}: {name} is not a readable image; allowed formats: {', '.join(ALLOWED_FORMATS)}",
            field=field,
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise PipelineInputError(f"{field}: {name} is corrupt or truncated: {exc}", field=field) from exc
    frames = int(getattr(img, "n_frames", 1) or 1) if getattr(img, "is_animated", False) else 1
    img = ImageOps.exif_transpose(img) or img
    out = _normalise(img, keep_alpha=keep_alpha, field=field)
    if frames > 1:  # animated GIF/WebP/PNG: PIL decodes frame 0; callers warn "first frame only"
        out.info["frames"] = frames
    return out


def animation_warning(img: Image.Image) -> str | None:
    """``"animated image (N frames): only the first frame is used"`` for an animated input, else None."""
    frames = int(img.info.get("frames", 1) or 1)
    if frames > 1:
        return f"animated image ({frames} frames): only the first frame is used; the output is a still PNG"
    return None


def _check_size(size: tuple[int, int], max_pixels: int, field: str) -> None:
    w, h = size
    if w * h > max_pixels:
        raise PipelineInputError(
            f"{field}: {w}x{h} = {w * h} pixels exceeds the limit of {max_pixels} pixels", field=field
        )
    if min(w, h) < MIN_SIDE:
        raise PipelineInputError(f"{field}: {w}x{h} is too small; each side must be >= {MIN_SIDE}", field=field)


def _normalise(img: Image.Image, *, keep_alpha: bool, field: str) -> Image.Image:
    mode = img.mode
    has_alpha = mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / peak * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
        mode = "L"
    elif mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        img = Image.fromarray(((arr - lo) * scale).astype(np.uint8), "L")
        mode = "L"
    if mode == "CMYK":
        img = img.convert("RGB")
    elif mode not in ("RGB", "RGBA"):
        try:
            img = img.convert("RGBA" if has_alpha else "RGB")
        except (ValueError, OSError) as exc:
            raise PipelineInputError(f"{field}: cannot convert mode {mode} to RGB: {exc}", field=field) from exc
    if img.mode == "RGBA" and not keep_alpha:
        img = img.convert("RGB")
    return img


def _from_array(arr: np.ndarray, *, max_pixels: int, keep_alpha: bool, field: str) -> Image.Image:
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise PipelineInputError(f"{field}: array must be HxWx3 or HxWx4, got shape {arr.shape}", field=field)
    if arr.dtype != np.uint8:
        raise PipelineInputError(f"{field}: array dtype must be uint8, got {arr.dtype}", field=field)
    _check_size((arr.shape[1], arr.shape[0]), max_pixels, field)
    img = Image.fromarray(np.ascontiguousarray(arr), "RGBA" if arr.shape[2] == 4 else "RGB")
    return img if keep_alpha or img.mode == "RGB" else img.convert("RGB")


def save_png_atomic(img: Image.Image, path: str | Path) -> Path:
    """Write a PNG to ``path`` via a temp file + rename, so no half-written file is ever seen."""
    from pipelines._common.files import atomic_write_bytes

    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return atomic_write_bytes(path, buf.getvalue())


def cutout_rgba(rgb: np.ndarray, alpha: np.ndarray, *, hard_edge_sigma: float = 0.8) -> Image.Image:
    """An RGBA cut-out of ``rgb`` (uint8 HxWx3) with ``alpha`` (float HxW in [0, 1]) as its soft edge.

    PNG stores straight (un-premultiplied) alpha, so the colour of a partly transparent edge pixel
    must be the *foreground's* colour, not the photo's mix of product and background: with
    ``I = a F + (1 - a) B``, the background ``B`` near the edge is estimated by normalised
    convolution of the pure-background pixels (a < 0.02) and ``F = (I - (1 - a) B) / a`` is solved
    where ``a`` is large enough to be stable, blended towards the nearby pure-foreground colour
    where it is small. Compositing the cut-out on any backdrop then shows no halo of the old one.
    A (nearly) binary ``alpha`` first gets a symmetric ``hard_edge_sigma`` px blur (soft edge).
    Fully transparent pixels get RGB 0. Returns a PIL ``RGBA`` image of the same size.
    """
    import cv2

    rgb = np.ascontiguousarray(np.asarray(rgb)[..., :3], dtype=np.uint8)
    a = np.clip(np.asarray(alpha, np.float32), 0.0, 1.0)
    if a.shape != rgb.shape[:2]:
        raise PipelineInputError(f"alpha is {a.shape[::-1]} but the image is {rgb.shape[1::-1]}", field="mask")
    soft_px = np.count_nonzero((a > 0.02) & (a < 0.98))
    hard = (a >= 0.5).astype(np.uint8)
    edge_px = int(np.count_nonzero(cv2.morphologyEx(hard, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))))
    if soft_px < 0.25 * max(1, edge_px) and hard_edge_sigma > 0:
        a = np.asarray(cv2.GaussianBlur(hard.astype(np.float32), (0, 0), hard_edge_sigma), np.float32)
        a[a < 0.02] = 0.0
        a[a > 0.98] = 1.0
    a = (np.round(a * 255.0) / 255.0).astype(np.float32)  # the 8-bit alpha the PNG will hold decides what is edge
    fg = np.zeros_like(rgb)
    edge = (a > 0.0) & (a < 1.0)
    fg[a >= 1.0] = rgb[a >= 1.0]
    if edge.any():
        ys, xs = np.nonzero(edge)
        r = max(3, int(round(0.01 * max(a.shape))))
        y0, y1 = max(0, ys.min() - 3 * r), min(a.shape[0], ys.max() + 3 * r + 1)
        x0, x1 = max(0, xs.min() - 3 * r), min(a.shape[1], xs.max() + 3 * r + 1)
        ac = a[y0:y1, x0:x1]
        img = rgb[y0:y1, x0:x1].astype(np.float32)
        sig = float(r)

        def spread(weight: np.ndarray) -> np.ndarray:
            num = cv2.GaussianBlur(img * weight[..., None], (0, 0), sig)
            den = cv2.GaussianBlur(weight, (0, 0), sig)[..., None]
            return np.asarray(num / np.maximum(den, 1e-6), np.float32)

        bg = spread((ac < 0.02).astype(np.float32))
        near_fg = spread((ac >= 0.98).astype(np.float32))
        aa = np.maximum(ac, 1e-3)[..., None]
        solved = np.clip((img - (1.0 - aa) * bg) / aa, 0.0, 255.0)
        trust = np.clip((ac - 0.05) / 0.25, 0.0, 1.0)[..., None]  # small a amplifies noise: lean on near_fg
        f = trust * solved + (1.0 - trust) * near_fg
        e = edge[y0:y1, x0:x1]
        fg[y0:y1, x0:x1][e] = np.clip(f[e] + 0.5, 0, 255).astype(np.uint8)
    a8 = np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(np.dstack([fg, a8]), "RGBA")
