"""Build tiny random-weight diffusers model directories (SD inpainting + ControlNet) for tests and benches.

The weights are random, so the images are noise; the layout, loading path, shapes, dtypes,
schedulers and batching are the real ones. No download: everything is built in code, saved with
``save_pretrained`` and loaded back by users' code through ``from_pretrained(local_dir)``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789,.-'!&+/()"


def write_char_tokenizer(folder: str | Path) -> Path:
    """Write a character-level CLIP BPE vocabulary (``vocab.json`` + ``merges.txt``) into ``folder``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in TOKEN_CHARS:
        vocab[ch] = len(vocab)
        vocab[ch + "</w>"] = len(vocab)
    (out / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return out


def build_tiny_inpaint_model(
    out_dir: str | Path,
    *,
    block_out_channels: tuple[int, int] = (32, 64),
    scheduler: str = "pndm",
    seed: int = 0,
) -> Path:
    """Save a tiny random Stable Diffusion inpainting pipeline (9-channel UNet) to ``out_dir``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        EulerDiscreteScheduler,
        PNDMScheduler,
        StableDiffusionInpaintPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    out = Path(out_dir)
    torch.manual_seed(seed)
    c0, c1 = block_out_channels
    groups = min(32, c0)
    unet = UNet2DConditionModel(
        block_out_channels=(c0, c1),
        layers_per_block=1,
        sample_size=16,
        in_channels=9,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=(2, 4),
        norm_num_groups=groups,
    )
    # 4 VAE levels like real SD (8x downsampling), so working sizes and latent grids are realistic
    vae = AutoencoderKL(
        block_out_channels=[16, 16, 32, 32],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
        sample_size=64,
        layers_per_block=1,
        norm_num_groups=8,
    )
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = CLIPTokenizer.from_pretrained(str(write_char_tokenizer(tmp)), model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=len(tokenizer) + 8,
            max_position_embeddings=77,
        )
    )
    schedulers = {
        "pndm": lambda: PNDMScheduler(skip_prk_steps=True, steps_offset=1),
        "ddim": lambda: DDIMScheduler(steps_offset=1, clip_sample=False, set_alpha_to_one=False),
        "euler": lambda: EulerDiscreteScheduler(steps_offset=1),
    }
    pipe: Any = StableDiffusionInpaintPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=schedulers[scheduler](),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(out))
    return out


def build_tiny_controlnet(
    out_dir: str | Path, *, block_out_channels: tuple[int, int] = (32, 64), seed: int = 0
) -> Path:
    """Save a tiny random ControlNet matching :func:`build_tiny_inpaint_model`'s UNet to ``out_dir``."""
    import torch
    from diffusers import ControlNetModel

    out = Path(out_dir)
    torch.manual_seed(seed)
    c0, c1 = block_out_channels
    net: Any = ControlNetModel(
        block_out_channels=(c0, c1),
        layers_per_block=1,
        in_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        cross_attention_dim=32,
        conditioning_embedding_out_channels=(8, 8, 16, 16),  # 8x down, like the VAE
        attention_head_dim=(2, 4),
        norm_num_groups=min(32, c0),
    )
    # A fresh ControlNet's output convs are zero-initialised (it starts as a no-op); give them small
    # random weights so the control image really changes the result in tests.
    with torch.no_grad():
        for block in [*net.controlnet_down_blocks, net.controlnet_mid_block]:
            block.weight.normal_(0.0, 0.05)
    net.save_pretrained(str(out))
    return out
