"""A tiny random-weight multi-speaker VITS saved as a Coqui model directory.

Tests and the benchmark use it to run the real ``TTS(model_path=..., config_path=...)`` loading
and inference path without any downloaded weights (none are obtainable here). It speaks noise,
but with the right shape: duration follows the text, speakers are selectable by name.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

VI_LETTERS = "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵfjwz"


def build_tiny_vits(
    out_dir: str | Path, speakers: Sequence[str] = ("p225", "p294"), *, seed: int = 0, sample_rate: int = 22050
) -> tuple[Path, Path]:
    """Write ``model.pth`` + ``config.json`` of a ~100k-parameter VITS; returns (model, config)."""
    import torch
    from TTS.tts.configs.shared_configs import CharactersConfig
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits, VitsArgs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    letters = VI_LETTERS + VI_LETTERS.upper()
    args = VitsArgs(
        hidden_channels=16,
        hidden_channels_ffn_text_encoder=32,
        num_heads_text_encoder=2,
        num_layers_text_encoder=1,
        num_layers_posterior_encoder=1,
        num_layers_flow=1,
        kernel_size_text_encoder=3,
        resblock_type_decoder="2",
        resblock_kernel_sizes_decoder=[3],
        resblock_dilation_sizes_decoder=[[1, 3]],
        upsample_rates_decoder=[8, 8, 4],
        upsample_initial_channel_decoder=16,
        upsample_kernel_sizes_decoder=[16, 16, 8],
        use_sdp=False,
        use_speaker_embedding=len(speakers) > 1,
        speaker_embedding_channels=8,
        init_discriminator=False,
    )
    config = VitsConfig(
        model_args=args,
        use_phonemes=False,
        text_cleaner="multilingual_cleaners",
        characters=CharactersConfig(
            characters_class="TTS.tts.models.vits.VitsCharacters",
            pad="<PAD>",
            eos="<EOS>",
            bos="<BOS>",
            blank="<BLNK>",
            characters=letters,
            punctuations="!'(),-.:;? ",
            phonemes=None,
        ),
        add_blank=True,
        speakers=list(speakers) if len(speakers) > 1 else [],
    )
    config.audio.sample_rate = sample_rate
    config.audio.hop_length = 256
    config.audio.win_length = 1024
    config.audio.fft_size = 1024
    config.audio.num_mels = 80
    with warnings.catch_warnings():  # init_from_config also builds the speaker manager we need
        warnings.simplefilter("ignore", UserWarning)
        model = Vits.init_from_config(config)
    model_path, config_path = out / "model.pth", out / "config.json"
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, model_path)
    config.save_json(str(config_path))
    return model_path, config_path
