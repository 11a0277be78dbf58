"""Tiny synthetic templates, media and voiceovers for the video tests (180x320 at 10 fps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

SCALE = 1 / 6  # 1080x1920 -> 180x320
FPS = 10

# Word timings of the synthetic voice (seconds from the start of the WAV).
WORDS = [("Xin", 0.2, 0.5), ("chào", 0.55, 0.9), ("Hương!", 0.95, 1.4), ("Mua", 2.0, 2.3), ("ngay.", 2.35, 2.8)]
SENTENCES = [("Xin chào Hương!", 0.2, 1.4), ("Mua ngay.", 2.0, 2.8)]
VOICE_HZ, MUSIC_HZ = 1000.0, 220.0


def write_voice(path: Path, sr: int = 24000, length: float = 3.2) -> Path:
    """Tone bursts at 1 kHz exactly where the words are (so ducking has ground truth)."""
    y = np.zeros(int(length * sr), np.float32)
    for _, s, e in WORDS:
        t = np.arange(int((e - s) * sr)) / sr
        seg = y[int(s * sr) : int(s * sr) + len(t)]  # words past ``length`` are left out
        seg[:] = 0.3 * np.sin(2 * np.pi * VOICE_HZ * t[: len(seg)])
    sf.write(str(path), y, sr)
    return path


def write_music(path: Path, sr: int = 48000, length: float = 2.0) -> Path:
    t = np.arange(int(length * sr)) / sr
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * MUSIC_HZ * t)).astype(np.float32), sr)
    return path


@pytest.fixture
def media(tmp_path: Path) -> dict[str, Path]:
    d = tmp_path / "media"
    d.mkdir()
    Image.new("RGB", (120, 200), (0, 200, 0)).save(d / "green.png")
    prod = Image.new("RGBA", (100, 60), (0, 0, 0, 0))
    prod.paste((255, 0, 255, 255), (10, 10, 90, 50))
    prod.save(d / "product.png")
    return {
        "green": d / "green.png",
        "product": d / "product.png",
        "music": write_music(d / "music.wav"),
        "voice": write_voice(d / "voice.wav"),
        # Fits the 2 s tiny template after the 0.3 s voice offset (a longer voice is an error, not cut).
        "short_voice": write_voice(d / "short_voice.wav", length=1.6),
        "dir": d,
    }


def tiny_template(**over: Any) -> dict[str, Any]:
    """Two scenes with layers of known colours at known places."""
    tpl: dict[str, Any] = {
        "name": "tiny",
        "fps": FPS,
        "formats": ["9:16", "1:1", "4:5", "16:9"],
        "background": "#000000",
        "audio": {"music": {"src": "media/music.wav", "volume_db": -12, "duck_db": -18, "fade_in": 0, "fade_out": 0}},
        "scenes": [
            {
                "id": "one",
                "duration": 1.0,
                "background": "#0000FF",
                "layers": [
                    # Red square in the top-left quarter of the full canvas.
                    {
                        "type": "shape",
                        "region": "full",
                        "box": {"x": 0, "y": 0, "w": 0.5, "h": 0.25},
                        "color": "#FF0000",
                    },
                    {
                        "type": "text",
                        "id": "hello",
                        "text": 'Chào {{customer.first_name | default: "bạn"}}',
                        "box": {"x": 0, "y": 0.5, "w": 1, "h": 0.2},
                        "size": 90,
                        "enter": {"type": "fade", "duration": 0.3},
                    },
                ],
            },
            {
                "id": "two",
                "duration": 1.0,
                "background": "#FFFFFF",
                "layers": [
                    {
                        "type": "image",
                        "src": "media/green.png",
                        "region": "full",
                        "box": {"x": 0.5, "y": 0.5, "w": 0.5, "h": 0.5},
                    },
                    {"type": "product", "box": {"x": 0, "y": 0, "w": 0.5, "h": 0.3}, "shadow": False},
                    {
                        "type": "text",
                        "text": "{{product.price | currency}}",
                        "box": {"x": 0, "y": 0.35, "w": 1, "h": 0.1},
                    },
                ],
            },
        ],
    }
    tpl.update(over)
    return tpl


DATA = {"customer": {"first_name": "Hương"}, "product": {"price": 1290000}}
