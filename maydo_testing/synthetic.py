"""Synthetic product photos with ground truth, for recolor tests and ``bench/recolor.py``.

``render_product(kind, size, color=..., logo_color=..., second_color=..., background=...)``
draws a shaded, textured product (``sphere``, ``mug`` or ``shirt``) on a plain or gradient
studio background, optionally as an RGBA cut-out, and returns the image plus exact masks: the
silhouette, the core of the main-colour region, the logo core and a second-colour core.
Shading is Lambertian in linear light, texture is multiplicative noise, edges are anti-aliased,
so every recolor metric (ΔE00, L* SSIM, untouched logo/background) has ground truth.
Pure numpy + OpenCV; deterministic for a given ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

KINDS = ("sphere", "mug", "shirt")
BACKGROUNDS = ("plain", "grey", "gradient")
_SHIFT = 4  # cv2 drawing with 4 fractional bits for sub-pixel anti-aliased edges


@dataclass(frozen=True)
class SyntheticProduct:
    """A generated product photo and its ground truth (all masks HxW bool unless noted)."""

    name: str
    image: np.ndarray  # uint8 HxWx3, or HxWx4 when rendered as a cut-out
    coverage: np.ndarray  # float32 anti-aliased silhouette coverage in [0, 1]
    mask: np.ndarray  # silhouette (coverage >= 0.5)
    region: np.ndarray  # core of the main-colour area (away from edges, logo, second colour)
    logo: np.ndarray  # core of the logo (may be empty)
    second: np.ndarray  # core of the second-colour area (may be empty)
    color: tuple[int, int, int]
    logo_color: tuple[int, int, int] | None = None
    second_color: tuple[int, int, int] | None = None
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def rgb(self) -> np.ndarray:
        """The colour channels (drops alpha for cut-outs)."""
        return self.image[..., :3]


def _to_linear(c: np.ndarray) -> np.ndarray:
    c = c.astype(np.float32) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _to_srgb8(lin: np.ndarray) -> np.ndarray:
    lin = np.clip(lin, 0.0, 1.0)
    s = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.power(lin, 1 / 2.4) - 0.055)
    return np.clip(s * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _poly_cov(size: int, polys: list[np.ndarray]) -> np.ndarray:
    canvas = np.zeros((size, size), np.uint8)
    pts = [np.round(p * (1 << _SHIFT)).astype(np.int32) for p in polys]
    cv2.fillPoly(canvas, pts, 255, lineType=cv2.LINE_AA, shift=_SHIFT)
    return canvas.astype(np.float32) / 255.0


def _ellipse_cov(size: int, center: tuple[float, float], axes: tuple[float, float], thickness: int = -1) -> np.ndarray:
    canvas = np.zeros((size, size), np.uint8)
    c = (int(round(center[0] * (1 << _SHIFT))), int(round(center[1] * (1 << _SHIFT))))
    a = (int(round(axes[0] * (1 << _SHIFT))), int(round(axes[1] * (1 << _SHIFT))))
    cv2.ellipse(canvas, c, a, 0, 0, 360, 255, thickness, lineType=cv2.LINE_AA, shift=_SHIFT)
    return canvas.astype(np.float32) / 255.0


def _background(size: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "plain":
        bg = np.empty((size, size, 3), np.float32)
        bg[:] = (244.0, 244.0, 242.0)
    elif kind == "grey":
        bg = np.empty((size, size, 3), np.float32)
        bg[:] = (112.0, 128.0, 160.0)  # blue-grey studio paper
    elif kind == "gradient":
        t = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
        s = np.linspace(0.0, 1.0, size, dtype=np.float32)[None, :, None]
        top = np.array([236.0, 238.0, 244.0], np.float32)
        bottom = np.array([176.0, 184.0, 198.0], np.float32)
        bg = (top * (1 - t) + bottom * t + 8.0 * (s - 0.5)).astype(np.float32)
    else:
        raise ValueError(f"background must be one of {BACKGROUNDS}")
    bg = bg + rng.normal(0.0, 1.2, (size, size, 1)).astype(np.float32)
    return np.clip(bg, 0, 255)


def _texture(size: int, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Multiplicative texture: fine grain plus a soft blotchy component."""
    fine = rng.normal(0.0, 1.0, (size, size)).astype(np.float32)
    blurred = cv2.GaussianBlur(rng.normal(0.0, 1.0, (size, size)).astype(np.float32), (0, 0), max(1.0, size / 64))
    coarse = np.asarray(blurred, np.float32) / np.float32(float(np.std(blurred)) + 1e-6)
    return (1.0 + amount * (0.7 * fine + 0.5 * coarse)).astype(np.float32)


def render_product(
    kind: str = "sphere",
    size: int = 256,
    *,
    color: tuple[int, int, int] = (200, 40, 40),
    logo_color: tuple[int, int, int] | None = (250, 250, 250),
    second_color: tuple[int, int, int] | None = None,
    background: str = "plain",
    alpha: bool = False,
    light: tuple[float, float] = (-0.45, -0.55),
    scale: float = 1.0,
    noise: float = 0.03,
    seed: int = 0,
) -> SyntheticProduct:
    """Render one synthetic product photo with ground-truth masks (see module docstring)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    rng = np.random.default_rng(seed)
    n = size
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    c = n / 2.0
    lx, ly = light
    lz = float(np.sqrt(max(0.05, 1.0 - lx * lx - ly * ly)))
    second_cov = np.zeros((n, n), np.float32)
    logo_cov = np.zeros((n, n), np.float32)
    if kind == "sphere":
        r = 0.34 * n * scale
        cov = _ellipse_cov(n, (c, c), (r, r))
        nx, ny = (xx - c) / r, (yy - c) / r
        nz = np.sqrt(np.clip(1.0 - nx * nx - ny * ny, 0.0, 1.0))
        lambert = np.clip(nx * lx + ny * ly + nz * lz, 0.0, 1.0)
        shade = 0.22 + 0.78 * lambert
        if logo_color is not None:
            logo_cov = _ellipse_cov(n, (c + 0.12 * r, c + 0.25 * r), (0.28 * r, 0.16 * r))
    elif kind == "mug":
        w, h = 0.26 * n * scale, 0.30 * n * scale
        x0, x1, y0, y1 = c - w, c + w, c - h, c + h
        body = _poly_cov(n, [np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float32)])
        handle = _ellipse_cov(n, (x1 + 0.02 * n * scale, c), (0.11 * n * scale, 0.16 * n * scale),
                              thickness=max(2, int(0.05 * n * scale)))
        handle *= (xx > x1 - 1).astype(np.float32)
        cov = np.maximum(body, handle)
        u = np.clip((xx - c) / w, -1.0, 1.0)
        nz = np.sqrt(np.clip(1.0 - u * u, 0.0, 1.0))
        lambert = np.clip(u * lx + nz * lz + 0.15 * ly * (yy - c) / h, 0.0, 1.0)
        shade = 0.25 + 0.75 * lambert
        hx = np.where(xx > x1, 0.55 + 0.25 * np.cos((yy - c) / (0.16 * n * scale)), 1.0)
        shade = shade * np.where(xx > x1, hx, 1.0)
        if logo_color is not None:
            lw, lh = 0.35 * w, 0.22 * h
            tri = np.array([[c - lw, c + lh], [c + lw, c + lh], [c, c - lh * 1.6]], np.float32)
            logo_cov = np.maximum(_poly_cov(n, [tri]), _ellipse_cov(n, (c, c + 1.7 * lh), (lw * 0.8, lh * 0.35)))
    else:  # shirt
        s = n * scale
        body = np.array(
            [[c - 0.22 * s, c - 0.30 * s], [c - 0.07 * s, c - 0.34 * s], [c, c - 0.29 * s],
             [c + 0.07 * s, c - 0.34 * s], [c + 0.22 * s, c - 0.30 * s], [c + 0.22 * s, c + 0.36 * s],
             [c - 0.22 * s, c + 0.36 * s]], np.float32)
        left = np.array([[c - 0.22 * s, c - 0.30 * s], [c - 0.40 * s, c - 0.12 * s],
                         [c - 0.31 * s, c - 0.03 * s], [c - 0.22 * s, c - 0.12 * s]], np.float32)
        right = left.copy()
        right[:, 0] = 2 * c - right[:, 0]
        body_cov = _poly_cov(n, [body])
        sleeves = _poly_cov(n, [left, right])
        cov = np.maximum(body_cov, sleeves)
        folds = 0.10 * np.sin((xx - c) / (0.045 * s) + 0.8 * np.sin((yy - c) / (0.11 * s)))
        folds += 0.06 * np.sin((yy - c) / (0.07 * s) + (xx - c) / (0.2 * s))
        shade = 0.78 + folds + 0.12 * (lx * (xx - c) + ly * (yy - c)) / (0.3 * s)
        shade = np.clip(shade, 0.3, 1.0)
        if second_color is not None:
            second_cov = np.clip(sleeves - body_cov, 0.0, 1.0)
        if logo_color is not None:
            logo_cov = _ellipse_cov(n, (c + 0.09 * s, c - 0.14 * s), (0.06 * s, 0.06 * s))
    shade = shade.astype(np.float32) * _texture(n, rng, noise)
    albedo: np.ndarray = np.empty((n, n, 3), np.float32)
    albedo[:] = _to_linear(np.array(color))
    if second_color is not None:
        sec = _to_linear(np.array(second_color))
        albedo = albedo * (1 - second_cov[..., None]) + sec * second_cov[..., None]
    if logo_color is not None:
        lg = _to_linear(np.array(logo_color))
        logo_cov = logo_cov * cov
        albedo = albedo * (1 - logo_cov[..., None]) + lg * logo_cov[..., None]
    product = _to_srgb8(albedo * shade[..., None]).astype(np.float32)
    bg = _background(n, background, rng)
    a = cov[..., None]
    rgb = np.clip(product * a + bg * (1 - a) + 0.5, 0, 255).astype(np.uint8)
    mask = cov >= 0.5
    k5 = np.ones((5, 5), np.uint8)
    full = cv2.erode((cov >= 0.999).astype(np.uint8), k5)
    logo_any = cv2.dilate((logo_cov > 0.001).astype(np.uint8), k5)
    sec_any = cv2.dilate((second_cov > 0.001).astype(np.uint8), k5)
    region = (full > 0) & (logo_any == 0) & (sec_any == 0)
    logo = cv2.erode((logo_cov >= 0.999).astype(np.uint8), k5) > 0
    second = (cv2.erode((second_cov >= 0.999).astype(np.uint8), k5) > 0) & (full > 0)
    if alpha:
        rgba = np.dstack([np.where(a > 0, product, 0).astype(np.uint8), (cov * 255 + 0.5).astype(np.uint8)])
        image = rgba
    else:
        image = rgb
    return SyntheticProduct(
        name=f"{kind}-{background}{'-alpha' if alpha else ''}",
        image=image,
        coverage=cov.astype(np.float32),
        mask=mask,
        region=region,
        logo=logo,
        second=second,
        color=tuple(int(v) for v in color),  # type: ignore[arg-type]
        logo_color=logo_color,
        second_color=second_color,
    )


def synthetic_suite(size: int = 256) -> list[tuple[SyntheticProduct, str]]:
    """The standard benchmark suite: (product, target colour spec) pairs at ``size``.

    Covers the three shapes, plain and gradient backgrounds, an RGBA cut-out, chromatic and
    achromatic sources and targets, logos of another colour.
    """
    return [
        (render_product("sphere", size, color=(200, 40, 40), seed=1), "#1E5AA8"),
        (render_product("mug", size, color=(30, 90, 170), logo_color=(240, 200, 40), background="gradient", seed=2),
         "đỏ"),
        (render_product("shirt", size, color=(40, 140, 70), logo_color=(245, 245, 245), seed=3), "acme:lotus"),
        (render_product("sphere", size, color=(35, 35, 38), logo_color=(230, 230, 230), background="gradient",
                        seed=4), "#F6C318"),
        (render_product("mug", size, color=(235, 233, 228), logo_color=(20, 60, 140), background="grey", seed=5), "xanh navy"),
        (render_product("shirt", size, color=(230, 120, 30), logo_color=(30, 30, 30), alpha=True, seed=6), "xám"),
        (render_product("sphere", size, color=(120, 60, 160), logo_color=(250, 250, 250), seed=7), "black"),
        (render_product("mug", size, color=(128, 128, 128), logo_color=(200, 30, 30), background="gradient",
                        seed=8), "white"),
    ]


def render_white_tee(size: int = 256, *, seed: int = 0) -> SyntheticProduct:
    """A white, fabric-textured T-shirt on a light studio gradient (the hard achromatic case).

    The knit is a fine two-direction weave plus grain, folds shade it from L* ~70 to ~97, and the
    backdrop (L* ~93 at the top to ~82 at the bottom) is close to the shirt's own lightness.
    ``region`` is the shirt's core; there is no logo. uint8 HxWx3.
    """
    rng = np.random.default_rng(seed)
    n = size
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    c = n / 2.0
    s = float(n)
    body = np.array(
        [[c - 0.22 * s, c - 0.30 * s], [c - 0.07 * s, c - 0.34 * s], [c, c - 0.29 * s],
         [c + 0.07 * s, c - 0.34 * s], [c + 0.22 * s, c - 0.30 * s], [c + 0.22 * s, c + 0.38 * s],
         [c - 0.22 * s, c + 0.38 * s]], np.float32)
    left = np.array([[c - 0.22 * s, c - 0.30 * s], [c - 0.40 * s, c - 0.12 * s],
                     [c - 0.31 * s, c - 0.03 * s], [c - 0.22 * s, c - 0.12 * s]], np.float32)
    right = left.copy()
    right[:, 0] = 2 * c - right[:, 0]
    cov = np.maximum(_poly_cov(n, [body]), _poly_cov(n, [left, right]))
    folds = 0.13 * np.sin((xx - c) / (0.05 * s) + 0.9 * np.sin((yy - c) / (0.10 * s)))
    folds += 0.07 * np.sin((yy - c) / (0.06 * s) + (xx - c) / (0.18 * s))
    shade = np.clip(0.80 + folds - 0.10 * (yy - c) / (0.4 * s), 0.45, 1.0)
    weave = 0.05 * np.sin(xx * 2.4) * np.sin(yy * 2.4) + 0.03 * np.sin((xx + yy) * 1.3)
    shade = shade * (1.0 + weave) * _texture(n, rng, 0.04)
    albedo = _to_linear(np.array((243, 243, 240)))
    product = _to_srgb8(albedo * shade[..., None]).astype(np.float32)
    t = np.linspace(0.0, 1.0, n, dtype=np.float32)[:, None, None]
    top, bottom = np.array([238.0, 236.0, 232.0], np.float32), np.array([208.0, 205.0, 200.0], np.float32)
    bg = top * (1 - t) + bottom * t + rng.normal(0.0, 1.0, (n, n, 1)).astype(np.float32)
    a = cov[..., None]
    rgb = np.clip(product * a + bg * (1 - a) + 0.5, 0, 255).astype(np.uint8)
    full = cv2.erode((cov >= 0.999).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    empty = np.zeros((n, n), bool)
    return SyntheticProduct(name="white-tee-gradient", image=rgb, coverage=cov.astype(np.float32), mask=cov >= 0.5,
                            region=full, logo=empty, second=empty, color=(243, 243, 240))


def render_grey16(size: int = 256, *, seed: int = 0) -> SyntheticProduct:
    """A 16-bit greyscale product photo: a grey bottle with a white logo, a soft floor shadow.

    ``image`` is uint16 HxW (full 0..65535 range, as a scanner/RAW export writes it); ``mask`` the
    bottle's silhouette, ``logo`` the logo core, ``extra['shadow']`` the core of the cast shadow
    on the floor (outside the product), ``extra['shadow_any']`` everywhere the shadow darkens.
    """
    rng = np.random.default_rng(seed)
    n = size
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    c = n / 2.0
    w, top, bot = 0.17 * n, 0.22 * n, 0.78 * n
    body = _poly_cov(n, [np.array([[c - w, top + 0.12 * n], [c + w, top + 0.12 * n], [c + w, bot], [c - w, bot]],
                                  np.float32)])
    neck = _poly_cov(n, [np.array([[c - 0.06 * n, 0.10 * n], [c + 0.06 * n, 0.10 * n],
                                   [c + w, top + 0.12 * n], [c - w, top + 0.12 * n]], np.float32)])
    cov = np.maximum(body, neck)
    u = np.clip((xx - c) / w, -1.0, 1.0)
    shade = 0.30 + 0.70 * np.clip(-0.45 * u + 0.89 * np.sqrt(np.clip(1 - u * u, 0, 1)), 0, 1)
    shade = shade * _texture(n, rng, 0.02)
    logo_cov = _ellipse_cov(n, (c, 0.52 * n), (0.09 * n, 0.06 * n)) * cov
    albedo = 0.16 * (1 - logo_cov) + 0.85 * logo_cov  # linear reflectance: mid grey body, white logo
    product = albedo * shade
    floor = 0.62 - 0.10 * (yy / n)  # light grey sweep, linear
    shadow_shape = _ellipse_cov(n, (c + 0.10 * n, bot + 0.015 * n), (0.30 * n, 0.06 * n))
    shadow = cv2.GaussianBlur(shadow_shape, (0, 0), 0.025 * n)
    bg = floor * (1.0 - 0.55 * shadow) * (1.0 + rng.normal(0.0, 0.004, (n, n)))
    lin = product * cov + bg * (1 - cov)
    srgb = np.where(lin <= 0.0031308, lin * 12.92, 1.055 * np.power(np.clip(lin, 0, 1), 1 / 2.4) - 0.055)
    img16 = np.clip(srgb * 65535.0 + 0.5, 0, 65535).astype(np.uint16)
    k5 = np.ones((5, 5), np.uint8)
    logo = cv2.erode((logo_cov >= 0.999).astype(np.uint8), k5) > 0
    region = (cv2.erode((cov >= 0.999).astype(np.uint8), k5) > 0) & (cv2.dilate((logo_cov > 0.001).astype(np.uint8),
                                                                                 k5) == 0)
    outside = cv2.dilate((cov > 0.001).astype(np.uint8), k5) == 0
    return SyntheticProduct(
        name="grey16-bottle", image=img16, coverage=cov.astype(np.float32), mask=cov >= 0.5, region=region,
        logo=logo, second=np.zeros((n, n), bool), color=(110, 110, 110), logo_color=(240, 240, 240),
        extra={"shadow": (shadow > 0.5) & outside, "shadow_any": (shadow > 0.02) & outside},
    )
