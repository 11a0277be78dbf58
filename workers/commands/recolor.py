"""``maydo recolor``: recolor product photos to exact colours (CPU engine) or by diffusion."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from workers.commands.common import console, fail, print_json, settings_from

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


def _preprocess_option(raw: str | None) -> dict[str, Any] | None:
    """``--onnx-preprocess``: a JSON object or a .json file with OnnxPreprocess keys."""
    if raw is None:
        return None
    import json

    text = raw
    if not raw.lstrip().startswith("{"):
        path = Path(raw)
        if not path.is_file():
            fail(f"--onnx-preprocess: {raw!r} is neither a JSON object nor a .json file", code=2)
        text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text)
    except ValueError as exc:
        fail(f"--onnx-preprocess: not valid JSON: {exc}", code=2)
    if not isinstance(data, dict):
        fail("--onnx-preprocess: must be a JSON object, e.g. '{\"input_size\": 320, \"output\": \"logits\"}'", code=2)
    return data


def _run_exact(images: list[Path], to: list[str], mask: Path | None, from_color: str | None,
               onnx_model: Path | None, onnx_preprocess: dict[str, Any] | None, feather: float,
               models_dir: Path) -> Any:
    from pipelines.recolor.config import RecolorParams
    from pipelines.recolor.pipeline_recolor import RecolorPipeline

    params = RecolorParams(to_colors=to, from_color=from_color, mask=mask, onnx_model=onnx_model,
                           onnx_preprocess=onnx_preprocess, feather_px=feather)
    return RecolorPipeline(models_dir=models_dir)([str(p) for p in images], params)


def _run_diffusion(images: list[Path], to: list[str], mask: Path | None, from_color: str | None,
                   model_dir: Path | None, prompt_extra: str | None, tuning: dict[str, Any]) -> Any:
    if model_dir is None:
        fail("--engine diffusion needs --model-dir (a local diffusers inpainting model directory)", code=2)
    try:
        from pipelines.recolor.config import DiffusionRecolorConfig, DiffusionRecolorParams
        from pipelines.recolor.pipeline_recolor_diffusion import DiffusionRecolorPipeline
    except ImportError as exc:
        fail(f"the diffusion engine is not available: {exc} (install maydo[diffusion])", code=2)
    # Params validate ranges (PipelineInputError naming the field) before the model loads.
    params = DiffusionRecolorParams(to_colors=to, from_color=from_color, mask=mask, prompt_extra=prompt_extra,
                                    **tuning)
    # from_config picks CUDA + fp16 when a GPU is visible, CPU + fp32 otherwise.
    pipe = DiffusionRecolorPipeline.from_config(DiffusionRecolorConfig(model_dir=str(model_dir)))
    return pipe([str(p) for p in images], params)


def register(app: typer.Typer) -> None:
    @app.command("recolor")
    def recolor(
        ctx: typer.Context,
        images: list[Path] = typer.Argument(..., help="Product photo(s); several views of one SKU are recolored consistently."),
        to: list[str] = typer.Option(..., "--to", "-t", help="Target colour: #RRGGBB, rgb(), name (EN/VI) or palette:colourway. Repeatable."),
        out_dir: Path | None = typer.Option(None, "--out", "-o", help="Directory for the PNGs (default: next to the first image)."),
        mask: Path | None = typer.Option(None, "--mask", "-m", help="Product mask image (white = product)."),
        from_color: str | None = typer.Option(None, "--from", help="Source colour to replace on a multi-colour product."),
        onnx_model: Path | None = typer.Option(None, "--onnx-model", help="Local ONNX segmentation model for the mask."),
        onnx_preprocess: str | None = typer.Option(
            None, "--onnx-preprocess",
            help="The ONNX model's preprocessing as JSON or a .json file: input_size, scale (255|max), mean, std, "
                 "channels, output (probability|logits|minmax|classes), output_index, soft. Default: its sidecar."),
        feather: float = typer.Option(1.5, "--feather", help="Outward feather of hard mask edges in pixels (0 = none)."),
        cutout: bool = typer.Option(True, "--cutout/--no-cutout", help="Also write an RGBA cut-out and the product mask."),
        engine: str = typer.Option("exact", "--engine", help="exact (CPU colour science) or diffusion (GPU model)."),
        model_dir: Path | None = typer.Option(None, "--model-dir", help="diffusion: local model directory."),
        prompt_extra: str | None = typer.Option(None, "--prompt-extra", help="diffusion: extra prompt words."),
        steps: int | None = typer.Option(None, "--steps", help="diffusion: denoising steps (default 30)."),
        strength: float | None = typer.Option(None, "--strength", help="diffusion: how much to repaint, 0..1 (default 0.85)."),
        guidance: float | None = typer.Option(None, "--guidance", help="diffusion: classifier-free guidance scale (default 7.5)."),
        seed: int | None = typer.Option(None, "--seed", help="diffusion: random seed (default 0)."),
        resolution: int | None = typer.Option(None, "--resolution", help="diffusion: working resolution, long side px (default 512)."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Recolor a product photo to exact colours; logos and background stay untouched.

        Photos without alpha and without --mask get their product mask from the studio backdrop
        when it is clean, else from U²-Net-p (install once: `maydo models install`). Animated
        GIF/WebP input: only the first frame is recolored (a warning says so).
        """
        from pipelines._common.errors import PipelineInputError
        from pipelines._common.images import save_png_atomic

        if engine not in ENGINES:
            fail(f"unknown engine {engine!r}; allowed: {', '.join(ENGINES)}", code=2)
        if mask is not None and len(images) > 1:
            fail("--mask applies to a single image; give one image per call when using --mask", code=2)
        tuning = {k: v for k, v in (("steps", steps), ("strength", strength), ("guidance", guidance), ("seed", seed),
                                    ("resolution", resolution)) if v is not None}
        if tuning and engine != "diffusion":
            fail(f"--{'/--'.join(tuning)} apply to --engine diffusion only", code=2)
        out_dir = out_dir or images[0].parent
        preprocess = _preprocess_option(onnx_preprocess)
        try:
            if engine == "exact":
                out = _run_exact(images, to, mask, from_color, onnx_model, preprocess, feather,
                                 settings_from(ctx).models_path)
            else:
                out = _run_diffusion(images, to, mask, from_color, model_dir, prompt_extra, tuning)
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
            save_png_atomic(img, path)
            files.append(str(path))
            summary["entries"][k]["file"] = str(path)
            summary["entries"][k]["image"] = str(images[i])
            if cutout and out.product_masks:
                cut = path.with_name(path.stem + ".cutout.png")
                save_png_atomic(out.cutout(k), cut)
                summary["entries"][k]["cutout"] = str(cut)
                if j == 0:
                    import numpy as np
                    from PIL import Image

                    mpath = out_dir / f"{stem}.mask.png"
                    a8 = np.clip(out.product_masks[i] * 255.0 + 0.5, 0, 255).astype(np.uint8)
                    save_png_atomic(Image.fromarray(a8, "L"), mpath)
                summary["entries"][k]["product_mask"] = str(out_dir / f"{stem}.mask.png")
        summary["engine"] = engine
        if as_json:
            print_json(summary)
            return
        table = Table(title=f"maydo recolor ({engine})")
        for col in ("image", "colour", "hex", "mask", "ΔE00 med", "ΔE00 p90", "L* SSIM", "outside Δ", "cover", "file"):
            table.add_column(col)
        for e in summary["entries"]:
            r = e["report"]
            outside = f"{r['changed_outside_px']} px (max {r['max_abs_outside_mask']})"
            table.add_row(
                Path(e["image"]).name, e["target"]["name"], e["target"]["hex"], str(e["mask_source"]),
                _fmt(r["median_de00"]), _fmt(r["p90_de00"]), _fmt(r["l_ssim"], 3), outside,
                f"{r['coverage']:.1%}", Path(e["file"]).name,
            )
        console.print(table)
        console.print("[dim]outside Δ: pixels outside the product mask (alpha < 0.5) that changed at all, feather "
                      "ring and soft edge included, and the largest 8-bit change among them[/]")
        seen: set[int] = set()
        for e in summary["entries"]:
            if e["image_index"] in seen:
                continue
            seen.add(e["image_index"])
            name = Path(e["image"]).name
            console.print(f"{name}: mask [bold]{e['mask_source']}[/] — {e['mask_reason']}", highlight=False)
            if e.get("region"):
                console.print(f"{name}: region — {e['region']}", highlight=False)
            for w in e["mask_warnings"]:
                console.print(f"[yellow]warning:[/] {name}: {w}", highlight=False)
