"""``maydo recolor``: recolor product photos to exact colours (CPU engine) or by diffusion."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from workers.commands.common import console, fail, print_json, writable_dir

ENGINES = ("exact", "diffusion")


def _slug(text: str) -> str:
    t = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    t = "".join(ch for ch in t if not unicodedata.combining(ch)).lower()
    return re.sub(r"[^a-z0-9]+", "-", t).strip("-") or "color"


def _fmt(v: object, nd: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _run_exact(images: list[Path], to: list[str], mask: Path | None, from_color: str | None,
               onnx_model: Path | None, feather: float) -> Any:
    from pipelines.recolor.pipeline_recolor import RecolorParams, RecolorPipeline

    params = RecolorParams(to_colors=to, from_color=from_color, mask=mask, onnx_model=onnx_model,
                           feather_px=feather)
    return RecolorPipeline()([str(p) for p in images], params)


def _run_diffusion(images: list[Path], to: list[str], mask: Path | None, from_color: str | None,
                   model_dir: Path | None, prompt_extra: str | None) -> Any:
    if model_dir is None:
        fail("--engine diffusion needs --model-dir (a local diffusers inpainting model directory)", code=2)
    try:
        from pipelines.recolor.diffusion_config import DiffusionRecolorConfig, DiffusionRecolorParams
        from pipelines.recolor.pipeline_recolor_diffusion import DiffusionRecolorPipeline
    except ImportError as exc:
        fail(f"the diffusion engine is not available: {exc} (install maydo[diffusion])", code=2)
    from pipelines._common.images import load_image

    masks = None
    if mask is not None:
        import numpy as np

        masks = [np.asarray(load_image(mask, field="mask").convert("L"), dtype=np.float32) / 255.0]
    # from_config picks CUDA + fp16 when a GPU is visible, CPU + fp32 otherwise.
    pipe = DiffusionRecolorPipeline.from_config(DiffusionRecolorConfig(model_dir=str(model_dir)))
    params = DiffusionRecolorParams(to_colors=to, from_color=from_color, prompt_extra=prompt_extra)
    return pipe([str(p) for p in images], params, masks=masks)


def register(app: typer.Typer) -> None:
    @app.command("recolor")
    def recolor(
        images: list[Path] = typer.Argument(..., help="Product photo(s); several views of one SKU are recolored consistently."),
        to: list[str] = typer.Option(..., "--to", "-t", help="Target colour: #RRGGBB, rgb(), name (EN/VI) or palette:colourway. Repeatable."),
        out_dir: Path = typer.Option(..., "--out", "-o", help="Directory for the recolored PNGs."),
        mask: Path | None = typer.Option(None, "--mask", "-m", help="Product mask image (white = product)."),
        from_color: str | None = typer.Option(None, "--from", help="Source colour to replace on a multi-colour product."),
        onnx_model: Path | None = typer.Option(None, "--onnx-model", help="Local ONNX segmentation model for the mask."),
        feather: float = typer.Option(1.5, "--feather", help="Outward feather of hard mask edges in pixels (0 = none)."),
        engine: str = typer.Option("exact", "--engine", help="exact (CPU colour science) or diffusion (GPU model)."),
        model_dir: Path | None = typer.Option(None, "--model-dir", help="diffusion: local model directory."),
        prompt_extra: str | None = typer.Option(None, "--prompt-extra", help="diffusion: extra prompt words."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Recolor a product photo to exact colours; logos and background stay untouched."""
        from pipelines._common.errors import PipelineInputError
        from pipelines._common.images import save_png_atomic

        if engine not in ENGINES:
            fail(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}", code=2)
        if mask is not None and len(images) > 1:
            fail("--mask applies to a single image; give one image per call when using --mask", code=2)
        writable_dir(out_dir, "--out/-o")
        try:
            if engine == "exact":
                out = _run_exact(images, to, mask, from_color, onnx_model, feather)
            else:
                out = _run_diffusion(images, to, mask, from_color, model_dir, prompt_extra)
        except PipelineInputError as exc:
            fail(str(exc), code=2)
        summary = out.to_dict()
        files: list[str] = []
        for k, img in enumerate(out.images):
            i, j = divmod(k, out.n_targets)
            stem = images[i].stem
            path = out_dir / f"{stem}_{_slug(out.targets[k].name)}.png"
            if any(str(path) == f for f in files):  # two specs naming the same colour
                path = out_dir / f"{stem}_{_slug(out.targets[k].name)}_{j}.png"
            try:
                save_png_atomic(img, path)
            except OSError as exc:
                fail(f"--out/-o: cannot write {path} ({exc.strerror or type(exc).__name__})", code=2)
            files.append(str(path))
            summary["entries"][k]["file"] = str(path)
            summary["entries"][k]["image"] = str(images[i])
        summary["engine"] = engine
        if as_json:
            print_json(summary)
            return
        table = Table(title=f"maydo recolor ({engine})")
        for col in ("image", "colour", "hex", "mask", "ΔE00 med", "ΔE00 p90", "L* SSIM", "outside Δ", "cover", "file"):
            table.add_column(col)
        for e in summary["entries"]:
            r = e["report"]
            table.add_row(
                Path(e["image"]).name, e["target"]["name"], e["target"]["hex"], str(e["mask_source"]),
                _fmt(r["median_de00"]), _fmt(r["p90_de00"]), _fmt(r["l_ssim"], 3), str(r["max_abs_outside"]),
                f"{r['coverage']:.1%}", Path(e["file"]).name,
            )
        console.print(table)
