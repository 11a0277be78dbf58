"""Loading from a local model dir: missing/incomplete dirs, schedulers, dtype/device, config options."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pipelines._common.errors import PipelineInputError
from pipelines.recolor.config import DiffusionRecolorConfig, DiffusionRecolorParams
from pipelines.recolor.diffusion_loading import ModelDirError, check_model_dir
from pipelines.recolor.pipeline_recolor_diffusion import DiffusionRecolorPipeline


def test_missing_model_dir_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelDirError) as info:
        DiffusionRecolorPipeline.from_pretrained(missing)
    err = info.value
    assert isinstance(err, PipelineInputError) and isinstance(err, FileNotFoundError)
    assert err.field == "model_dir"
    assert str(missing) in str(err) and "model_index.json" in str(err)


def test_incomplete_model_dir_lists_each_missing_part(tiny_model_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model_dir, broken)
    shutil.rmtree(broken / "unet")
    shutil.rmtree(broken / "tokenizer")
    (broken / "model_index.json").unlink()
    (broken / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelDirError) as info:
        DiffusionRecolorPipeline.from_pretrained(broken)
    msg = str(info.value)
    for part in ("model_index.json", "unet/", "tokenizer/", "vae/ weights"):
        assert part in msg, msg
    assert "text_encoder" not in msg.split("missing", 1)[1].split(";")[0]


def test_file_instead_of_dir_and_bad_controlnet(tiny_model_dir: Path, tmp_path: Path) -> None:
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"x")
    with pytest.raises(ModelDirError, match="not a directory"):
        check_model_dir(f)
    with pytest.raises(ModelDirError) as info:
        DiffusionRecolorPipeline.from_pretrained(tiny_model_dir, controlnet_dir=tmp_path / "cn")
    assert info.value.field == "controlnet_dir" and "cn" in str(info.value)


def test_scheduler_selectable_by_name(tiny_model_dir: Path) -> None:
    pipe = DiffusionRecolorPipeline.from_pretrained(tiny_model_dir, scheduler="euler_a")
    assert type(pipe.sd_pipe.scheduler).__name__ == "EulerAncestralDiscreteScheduler"
    # the model's trained noise schedule is kept
    assert pipe.sd_pipe.scheduler.config.num_train_timesteps == 1000
    with pytest.raises(PipelineInputError, match="did you mean: ddim"):
        DiffusionRecolorPipeline.from_pretrained(tiny_model_dir, scheduler="ddmi")


def test_config_validation() -> None:
    with pytest.raises(PipelineInputError, match="unknown device 'gpu'"):
        DiffusionRecolorConfig(model_dir="m", device="gpu")
    with pytest.raises(PipelineInputError, match="dtype"):
        DiffusionRecolorConfig(model_dir="m", dtype="int8")
    with pytest.raises(PipelineInputError, match="max_batch_size"):
        DiffusionRecolorConfig(model_dir="m", max_batch_size=0)
    with pytest.raises(PipelineInputError, match="strength"):
        DiffusionRecolorParams(to_colors=["red"], strength=0.0)
    with pytest.raises(PipelineInputError, match="steps"):
        DiffusionRecolorParams(to_colors=["red"], steps=0)
    with pytest.raises(PipelineInputError, match="steps x strength"):
        DiffusionRecolorParams(to_colors=["red"], steps=2, strength=0.3)
    with pytest.raises(PipelineInputError, match="unknown mode 'sceen'; did you mean: scene"):
        DiffusionRecolorParams(to_colors=["red"], mode="sceen")
    with pytest.raises(PipelineInputError, match="to_colors is empty"):
        DiffusionRecolorParams(to_colors=[])
    assert DiffusionRecolorParams(to_colors="red").to_colors == ("red",)


def test_fp16_refused_on_cpu(tiny_model_dir: Path) -> None:
    cfg = DiffusionRecolorConfig(model_dir=str(tiny_model_dir), device="cpu", dtype="fp16")
    with pytest.raises(PipelineInputError, match="fp16 needs a CUDA device"):
        DiffusionRecolorPipeline.from_config(cfg)


def test_from_config_applies_memory_options_and_runs(tiny_model_dir: Path, products: list) -> None:
    import torch

    cfg = DiffusionRecolorConfig(
        model_dir=str(tiny_model_dir), device="cpu", dtype="auto", attention_slicing=True, vae_tiling=True,
        cpu_offload=True, max_batch_size=1, scheduler="ddim",
    )
    pipe = DiffusionRecolorPipeline.from_config(cfg)
    assert pipe.dtype == torch.float32 and pipe.device == "cpu"
    assert pipe.sd_pipe.vae.use_tiling is True
    assert type(pipe.sd_pipe.scheduler).__name__ == "DDIMScheduler"
    assert not pipe.offloaded  # model CPU offload only applies on CUDA
    prod = products[0]
    out = pipe(prod.rgb, DiffusionRecolorParams(to_colors=["navy"], steps=2, resolution=64, mask=[prod.coverage]))
    assert np.asarray(out.images[0]).shape == prod.rgb.shape
