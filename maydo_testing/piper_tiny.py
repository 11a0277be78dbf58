"""A tiny random-weight Piper voice (``.onnx`` + ``.onnx.json``) built from code.

No Vietnamese neural weights are obtainable here, so tests and the benchmark build one: a
~100k-parameter VITS (``coqui_tiny.build_tiny_vits``) exported to ONNX by Coqui's
``Vits.export_onnx`` — the same graph layout Piper voices use (inputs ``input``,
``input_lengths``, ``scales``; a ``Ceil`` duration node Piper patches for alignments) — plus a
Piper config with espeak-ng phonemes for ``espeak_voice`` and Piper's default phoneme id map.
An operator's real ``vi_VN-*.onnx`` voice has exactly this shape, so the same code path loads it.
It speaks noise, with the right shape: duration follows the text.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path


def build_tiny_piper(
    out_dir: str | Path, *, espeak_voice: str = "vi", name: str = "vi_VN-tiny", seed: int = 0, sample_rate: int = 22050
) -> tuple[Path, Path]:
    """Write ``<name>.onnx`` + ``<name>.onnx.json``; returns (model, config). Needs torch, coqui-tts, onnx."""
    import torch
    from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits

    from maydo_testing.coqui_tiny import build_tiny_vits

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model_path, config_path = build_tiny_vits(out / "vits", speakers=("single",), seed=seed, sample_rate=sample_rate)
    cfg = VitsConfig()
    cfg.load_json(str(config_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Vits.init_from_config(cfg)
        model.load_state_dict(torch.load(model_path, map_location="cpu")["model"])
        model.eval()
        onnx_path = out / f"{name}.onnx"
        model.export_onnx(output_path=str(onnx_path), verbose=False)
    n_symbols = int(model.emb_g.num_embeddings) if getattr(model, "emb_g", None) is not None else 0
    n_symbols = max(n_symbols, int(model.text_encoder.emb.num_embeddings))
    id_map = {k: list(v) for k, v in DEFAULT_PHONEME_ID_MAP.items() if max(v) < n_symbols}
    piper_cfg = {
        "audio": {"sample_rate": sample_rate},
        "espeak": {"voice": espeak_voice},
        "phoneme_type": "espeak",
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "num_symbols": n_symbols,
        "num_speakers": 1,
        "phoneme_id_map": id_map,
        "language": {"code": "vi_VN" if espeak_voice == "vi" else espeak_voice},
        "dataset": "random weights (test voice)",
    }
    json_path = out / f"{name}.onnx.json"
    json_path.write_text(json.dumps(piper_cfg, ensure_ascii=False), encoding="utf-8")
    return onnx_path, json_path
