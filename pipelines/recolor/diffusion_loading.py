"""Checking and loading a local diffusers model directory (no hub, no network).

Heavy imports (torch, diffusers) stay inside the functions so importing this module is cheap.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pipelines._common.errors import PipelineInputError
from pipelines.recolor.config import SCHEDULERS, check_scheduler_name

WEIGHT_NAMES = (
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.bin",
    "diffusion_pytorch_model.safetensors.index.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
REQUIRED_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
LAYOUT_HINT = (
    "expected a diffusers Stable Diffusion (inpainting) layout: model_index.json, unet/, vae/, "
    "text_encoder/, tokenizer/, scheduler/ (see docs/diffusion.md)"
)


class ModelDirError(PipelineInputError, FileNotFoundError):
    """The model directory is missing or incomplete (a ``PipelineInputError`` and a ``FileNotFoundError``)."""

    def __init__(self, message: str, *, field: str | None = "model_dir") -> None:
        PipelineInputError.__init__(self, message, field=field)


def _has_weights(folder: Path) -> bool:
    if any((folder / n).is_file() for n in WEIGHT_NAMES):
        return True
    # variant files such as diffusion_pytorch_model.fp16.safetensors
    return any(p.suffix in (".safetensors", ".bin") for p in folder.glob("*.*.*"))


def weights_variant(folder: Path) -> str | None:
    """Return ``'fp16'``-style variant name when a component only ships variant weights."""
    if any((folder / n).is_file() for n in WEIGHT_NAMES):
        return None
    for p in sorted(folder.glob("*.*.*")):
        parts = p.name.split(".")
        if len(parts) >= 3 and parts[-1] in ("safetensors", "bin"):
            return parts[-2]
    return None


def check_model_dir(model_dir: str | os.PathLike[str]) -> Path:
    """Validate a local diffusers model directory and return it; raise ``ModelDirError`` naming what is missing."""
    root = Path(model_dir).expanduser()
    if not root.exists():
        raise ModelDirError(f"diffusion model directory not found: {root}; {LAYOUT_HINT}")
    if not root.is_dir():
        raise ModelDirError(f"diffusion model path is not a directory: {root}; {LAYOUT_HINT}")
    missing: list[str] = []
    index = root / "model_index.json"
    if not index.is_file():
        missing.append("model_index.json")
    else:
        try:
            json.loads(index.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelDirError(f"{index} is not valid JSON: {exc}") from exc
    for comp in REQUIRED_COMPONENTS:
        folder = root / comp
        if not folder.is_dir():
            missing.append(f"{comp}/")
            continue
        if comp == "tokenizer":
            if not (folder / "tokenizer.json").is_file() and not (
                (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file()
            ):
                missing.append("tokenizer/ (tokenizer.json or vocab.json + merges.txt)")
        elif comp == "scheduler":
            if not (folder / "scheduler_config.json").is_file():
                missing.append("scheduler/scheduler_config.json")
        else:
            if not (folder / "config.json").is_file():
                missing.append(f"{comp}/config.json")
            if not _has_weights(folder):
                missing.append(f"{comp}/ weights (*.safetensors or *.bin)")
    if missing:
        raise ModelDirError(f"diffusion model directory {root} is incomplete: missing {', '.join(missing)}; {LAYOUT_HINT}")
    return root


def check_controlnet_dir(controlnet_dir: str | os.PathLike[str]) -> Path:
    """Validate a local ControlNet directory (config.json + weights)."""
    root = Path(controlnet_dir).expanduser()
    if not root.is_dir():
        raise ModelDirError(
            f"ControlNet directory not found: {root}; expected config.json + diffusion_pytorch_model.safetensors",
            field="controlnet_dir",
        )
    missing = []
    if not (root / "config.json").is_file():
        missing.append("config.json")
    if not _has_weights(root):
        missing.append("weights (diffusion_pytorch_model.safetensors or .bin)")
    if missing:
        raise ModelDirError(f"ControlNet directory {root} is incomplete: missing {', '.join(missing)}", field="controlnet_dir")
    return root


def resolve_device(device: str) -> str:
    """Map ``'auto'`` to ``'cuda'`` when a GPU is visible, else ``'cpu'``; reject CUDA when absent."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise PipelineInputError(f"device {device!r} requested but no CUDA device is visible; use 'cpu' or 'auto'", field="device")
    return device


def resolve_dtype(dtype: str | Any | None, device: str | None) -> Any:
    """Return a ``torch.dtype``: auto = fp16 on CUDA, fp32 on CPU; fp16 on CPU is refused (too slow / unsupported ops).

    ``device=None`` means "not known yet" (loading before ``.to(device)``): auto is fp32, fp16 allowed.
    """
    import torch

    if dtype is None or dtype == "auto":
        return torch.float16 if device is not None and device.startswith("cuda") else torch.float32
    if isinstance(dtype, torch.dtype):
        resolved = dtype
    else:
        table = {"fp16": torch.float16, "float16": torch.float16, "bf16": torch.bfloat16,
                 "bfloat16": torch.bfloat16, "fp32": torch.float32, "float32": torch.float32}
        if dtype not in table:
            from pipelines._common.errors import unknown_choice

            raise unknown_choice("dtype", str(dtype), ("auto", "fp16", "bf16", "fp32"), field="dtype")
        resolved = table[dtype]
    if resolved == torch.float16 and device is not None and not device.startswith("cuda"):
        raise PipelineInputError("dtype fp16 needs a CUDA device; on CPU use fp32 (or bf16)", field="dtype")
    return resolved


def make_scheduler(name: str | None, base_config: Any) -> Any | None:
    """Build the named diffusers scheduler from the model's scheduler config (None = keep the model's)."""
    key = check_scheduler_name(name)
    if key is None:
        return None
    import diffusers

    cls = getattr(diffusers, SCHEDULERS[key])
    return cls.from_config(base_config)


def set_offline() -> None:
    """No hub at run time: a mistyped path must fail fast, never try a download."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def unet_in_channels(model_dir: Path) -> int:
    """Read the UNet's input channels (9 = inpainting UNet, 4 = plain text-to-image UNet)."""
    try:
        cfg = json.loads((model_dir / "unet" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelDirError(f"{model_dir / 'unet' / 'config.json'} is unreadable: {exc}") from exc
    return int(cfg.get("in_channels", 4))
