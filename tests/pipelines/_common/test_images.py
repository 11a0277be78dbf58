import io

import numpy as np
import pytest
from PIL import Image

from pipelines._common.errors import PipelineInputError, unknown_choice
from pipelines._common.fonts import font_path
from pipelines._common.images import load_image, save_png_atomic


def _png(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_rgb_png_roundtrip(tmp_path):
    arr = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    p = save_png_atomic(Image.fromarray(arr), tmp_path / "x.png")
    img = load_image(p)
    assert img.mode == "RGB" and img.size == (30, 20)
    assert np.array_equal(np.asarray(img), arr)


@pytest.mark.parametrize(
    "mode,expected",
    [("CMYK", "RGB"), ("L", "RGB"), ("P", "RGB"), ("LA", "RGBA"), ("RGBA", "RGBA"), ("I;16", "RGB")],
)
def test_modes_normalised(mode, expected):
    if mode == "I;16":
        arr = (np.linspace(0, 65535, 32 * 32).reshape(32, 32)).astype(np.uint16)
        src = Image.fromarray(arr, "I;16")
    else:
        src = Image.new(mode, (32, 32))
    fmt = "JPEG" if mode == "CMYK" else ("TIFF" if mode == "I;16" else "PNG")
    img = load_image(_png(src, fmt))
    assert img.mode == expected
    if mode == "I;16":
        a = np.asarray(img)
        assert a.max() == 255 and a.min() == 0  # 16-bit range mapped to 8-bit, not clipped


def test_palette_with_transparency_keeps_alpha():
    src = Image.new("P", (16, 16))
    src.info["transparency"] = 0
    img = load_image(_png(src, transparency=0))
    assert img.mode == "RGBA"
    assert load_image(_png(src, transparency=0), keep_alpha=False).mode == "RGB"


def test_corrupt_truncated_and_not_an_image(tmp_path):
    good = _png(Image.new("RGB", (64, 64), (200, 10, 10)), "JPEG")
    with pytest.raises(PipelineInputError, match="corrupt or truncated"):
        load_image(good[: len(good) // 2])
    with pytest.raises(PipelineInputError, match="not a readable image"):
        load_image(b"this is text, not pixels")
    with pytest.raises(PipelineInputError, match="empty"):
        load_image(b"")
    with pytest.raises(PipelineInputError, match="not found"):
        load_image(tmp_path / "nope.png")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(PipelineInputError, match="empty"):
        load_image(empty)


def test_decompression_bomb_checked_before_decode():
    big = _png(Image.new("L", (4000, 4000)))
    with pytest.raises(PipelineInputError) as exc:
        load_image(big, max_pixels=1_000_000)
    assert "16000000 pixels exceeds the limit of 1000000" in str(exc.value)
    assert exc.value.field == "image"


def test_too_small_and_bad_arrays():
    with pytest.raises(PipelineInputError, match="too small"):
        load_image(_png(Image.new("RGB", (4, 4))))
    with pytest.raises(PipelineInputError, match="dtype must be uint8"):
        load_image(np.zeros((16, 16, 3), dtype=np.float32))
    with pytest.raises(PipelineInputError, match="HxWx3 or HxWx4"):
        load_image(np.zeros((16, 16, 2), dtype=np.uint8))
    assert load_image(np.zeros((16, 16, 4), dtype=np.uint8)).mode == "RGBA"


def test_unsupported_format():
    with pytest.raises(PipelineInputError, match="not supported"):
        load_image(_png(Image.new("RGB", (16, 16)), "ICO"))


def test_fonts_have_vietnamese_glyphs():
    from PIL import ImageFont

    p = font_path("Bold")
    assert p.name == "BeVietnamPro-Bold.ttf" and p.is_file()
    font = ImageFont.truetype(str(p), 32)
    for ch in "ạảãấầẩẫậắằẳẵặđĐẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ":
        assert font.getmask(ch).getbbox() is not None, ch
    assert font_path("regular", italic=True).name == "BeVietnamPro-Italic.ttf"
    with pytest.raises(PipelineInputError, match="did you mean: Bold"):
        font_path("Bodl")


def test_unknown_choice_lists_all_when_nothing_close():
    err = unknown_choice("accent", "zzz", ["vi-north", "vi-south"], field="accent")
    assert "allowed: vi-north, vi-south" in str(err) and err.field == "accent"
