"""Tiny random Stable Diffusion inpainting + ControlNet models, built once per session and saved to disk.

Loaded back through ``DiffusionRecolorPipeline.from_pretrained(model_dir)`` exactly as users do.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from maydo_testing.diffusion_tiny import build_tiny_inpaint_model

    return build_tiny_inpaint_model(tmp_path_factory.mktemp("tiny-sd") / "sd-inpaint")


@pytest.fixture(scope="session")
def tiny_controlnet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from maydo_testing.diffusion_tiny import build_tiny_controlnet

    return build_tiny_controlnet(tmp_path_factory.mktemp("tiny-cn") / "controlnet-canny")


@pytest.fixture(scope="session")
def pipe(tiny_model_dir: Path) -> Iterator[object]:
    from pipelines.recolor.pipeline_recolor_diffusion import DiffusionRecolorPipeline

    yield DiffusionRecolorPipeline.from_pretrained(tiny_model_dir, max_batch_size=4).to("cpu")


@pytest.fixture(scope="session")
def cn_pipe(tiny_model_dir: Path, tiny_controlnet_dir: Path) -> Iterator[object]:
    from pipelines.recolor.pipeline_recolor_diffusion import DiffusionRecolorPipeline

    yield DiffusionRecolorPipeline.from_pretrained(tiny_model_dir, controlnet_dir=tiny_controlnet_dir).to("cpu")


@pytest.fixture(scope="session")
def products() -> list[object]:
    """Two 64x64 synthetic products with ground-truth masks (red sphere with a logo, blue mug)."""
    from maydo_testing.synthetic import render_product

    return [
        render_product("sphere", 64, color=(200, 40, 40), logo_color=(250, 250, 250), seed=1),
        render_product("mug", 64, color=(30, 90, 170), logo_color=None, background="gradient", seed=2),
    ]


def as_array(img: object) -> np.ndarray:
    return np.asarray(img)
