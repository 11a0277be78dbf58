"""Vietnamese neural path (issue 19): an operator's Piper ``vi_VN`` voice or Coqui VITS model
directory plugs into the accent registry. No Vietnamese neural weights are obtainable here, so
the tests build tiny random-weight models in the same formats and run the real loaders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines._common.errors import PipelineInputError
from pipelines._common.loudness import integrated_loudness
from pipelines.voice.accents import DEFAULT_REGISTRY_PATH
from pipelines.voice.pipeline_voice import VoiceConfig, VoiceParams, VoicePipeline

from .conftest import assert_timings_valid

SCRIPT = "Chào bạn! Áo khoác mới chỉ 150.000đ, gọi (028) 3822-1234 nhé."


@pytest.fixture(scope="module")
def tiny_piper(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import torch

    from maydo_testing.piper_tiny import build_tiny_piper

    torch.set_num_threads(1)
    return build_tiny_piper(tmp_path_factory.mktemp("piper_vi"))


def test_operator_piper_vi_voice_speaks_central_dialect_with_aligned_words(tiny_piper: tuple[Path, Path]) -> None:
    model, config = tiny_piper
    pipe = VoicePipeline(VoiceConfig(piper_model=model, piper_config=config))
    out = pipe(SCRIPT, VoiceParams(accent="vi-central", engine="piper"))
    assert (out.engine, out.voice) == ("piper", "vi_VN-tiny")
    assert "một trăm năm mươi ngàn đồng" in out.normalized_text  # central: ngàn, not nghìn
    assert "không hai tám, ba tám hai hai, một hai ba bốn" in out.normalized_text
    assert abs(integrated_loudness(out.audio, out.sample_rate) + 16.0) <= 0.5
    assert_timings_valid(out, SCRIPT)
    # unknown licence: refused for commercial jobs until the operator records the terms
    with pytest.raises(PipelineInputError, match="does not allow commercial use"):
        pipe(SCRIPT, VoiceParams(accent="vi-central", engine="piper", commercial=True))
    cleared = VoicePipeline(VoiceConfig(piper_model=model, piper_config=config, piper_licence="CC-BY-4.0",
                                        piper_commercial_use=True))  # fmt: skip
    ok = cleared(SCRIPT, VoiceParams(accent="vi-central", engine="piper", commercial=True))
    assert ok.duration > 1.0


def test_operator_registry_makes_the_neural_voice_the_default(tiny_piper: tuple[Path, Path], tmp_path: Path) -> None:
    model, config = tiny_piper
    reg = yaml.safe_load(DEFAULT_REGISTRY_PATH.read_text(encoding="utf-8"))
    central = reg["accents"]["vi-central"]
    central["alternatives"] = {"espeak": {"voice": central["voice"], "licence": central["licence"],
                                          "commercial_use": True}}  # fmt: skip
    central.update(engine="piper", voice="vi_VN-tiny", licence="CC-BY-4.0 (operator)", commercial_use=True)
    path = tmp_path / "voices.yaml"
    path.write_text(yaml.safe_dump(reg, allow_unicode=True), encoding="utf-8")
    pipe = VoicePipeline(VoiceConfig(registry_path=path, piper_model=model, piper_config=config))
    out = pipe(SCRIPT, VoiceParams(accent="vi-central", commercial=True))
    assert (out.engine, out.voice) == ("piper", "vi_VN-tiny")
    assert pipe.registry.get("vi-central").engines() == ["piper", "espeak"]
    back = pipe(SCRIPT, VoiceParams(accent="vi-central", engine="espeak"))
    assert back.engine == "espeak" and back.normalized_text == out.normalized_text


def test_operator_coqui_vits_dir_speaks_vietnamese(tmp_path: Path) -> None:
    import torch

    from maydo_testing.coqui_tiny import build_tiny_vits

    torch.set_num_threads(1)
    build_tiny_vits(tmp_path / "vi_vits", speakers=("single",))
    pipe = VoicePipeline(VoiceConfig(coqui_model_dir=tmp_path / "vi_vits"))
    out = pipe(SCRIPT, VoiceParams(accent="vi-south", engine="coqui"))
    assert out.engine == "coqui" and "ngàn" in out.normalized_text
    assert abs(integrated_loudness(out.audio, out.sample_rate) + 16.0) <= 0.5
    assert_timings_valid(out, SCRIPT)
