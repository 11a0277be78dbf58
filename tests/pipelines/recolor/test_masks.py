"""Product masks: alpha, given, automatic (plain/gradient studio backgrounds), ONNX, bad masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maydo_testing.synthetic import render_product
from pipelines._common.errors import PipelineInputError
from pipelines.recolor.masks import MaskResult, product_mask

SIZE = 160


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.mark.parametrize(
    ("kind", "background"), [("sphere", "plain"), ("shirt", "gradient"), ("mug", "gradient"), ("mug", "grey")]
)
def test_auto_mask_matches_ground_truth(kind: str, background: str) -> None:
    p = render_product(kind, SIZE, color=(40, 100, 180), background=background, seed=3)
    m = product_mask(Image.fromarray(p.image))
    assert isinstance(m, MaskResult) and m.source == "auto"
    assert m.alpha.dtype == np.float32 and m.alpha.shape == p.mask.shape
    assert iou(m.alpha > 0.5, p.mask) >= 0.95
    assert abs(m.coverage - p.mask.mean()) < 0.03


def test_auto_mask_keeps_mug_handle_opening() -> None:
    p = render_product("mug", SIZE, color=(40, 100, 180), seed=1)
    m = product_mask(Image.fromarray(p.image)).alpha > 0.5
    from scipy.ndimage import binary_erosion, binary_fill_holes

    opening = binary_erosion(binary_fill_holes(p.mask) & ~p.mask, iterations=2)
    assert opening.sum() > 50
    assert m[opening].mean() < 0.05


def test_alpha_channel_first() -> None:
    p = render_product("shirt", SIZE, alpha=True, seed=2)
    given = np.ones((SIZE, SIZE), np.float32)  # ignored: alpha wins
    m = product_mask(Image.fromarray(p.image, "RGBA"), mask=given)
    assert m.source == "alpha"
    assert np.allclose(m.alpha, p.image[..., 3] / 255.0)


def test_given_mask_array_pil_and_file(tmp_path: Path) -> None:
    p = render_product("sphere", SIZE, seed=4)
    img = Image.fromarray(p.image)
    for spec in (p.mask, p.mask.astype(np.uint8) * 255, Image.fromarray(p.mask.astype(np.uint8) * 255)):
        m = product_mask(img, mask=spec)
        assert m.source == "given" and np.array_equal(m.alpha > 0.5, p.mask)
    f = tmp_path / "mask.png"
    Image.fromarray(p.mask.astype(np.uint8) * 255).save(f)
    assert np.array_equal(product_mask(img, mask=f).alpha > 0.5, p.mask)


def test_bad_masks() -> None:
    p = render_product("sphere", SIZE, seed=5)
    img = Image.fromarray(p.image)
    with pytest.raises(PipelineInputError, match="0.00%"):
        product_mask(img, mask=np.zeros((SIZE, SIZE), np.uint8))
    with pytest.raises(PipelineInputError, match="whole frame"):
        product_mask(img, mask=np.ones((SIZE, SIZE), np.uint8))
    with pytest.raises(PipelineInputError, match="sizes must match"):
        product_mask(img, mask=np.ones((SIZE, SIZE + 1), np.uint8))
    blank = Image.new("RGB", (SIZE, SIZE), (240, 240, 240))
    with pytest.raises(PipelineInputError, match="no product"):
        product_mask(blank)
    with pytest.raises(PipelineInputError, match="not found"):
        product_mask(img, mask="/nonexistent/mask.png")


def build_tiny_segmenter(path: Path, *, static: int | None = None) -> Path:
    """A 1x1-conv 'segmentation model': logit = 20 * (2.4 - (r + g + b)), i.e. not-white = product."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    dim = static if static else "H"
    dim_w = static if static else "W"
    x = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, dim, dim_w])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, dim, dim_w])
    w = numpy_helper.from_array(np.full((1, 3, 1, 1), -20.0, np.float32), "w")
    b = numpy_helper.from_array(np.array([48.0], np.float32), "b")
    node = helper.make_node("Conv", ["image", "w", "b"], ["logits"])
    graph = helper.make_graph([node], "tiny_seg", [x], [y], initializer=[w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.mark.parametrize("static", [None, 96])
def test_onnx_model_mask(tmp_path: Path, static: int | None) -> None:
    model = build_tiny_segmenter(tmp_path / "seg.onnx", static=static)
    p = render_product("shirt", SIZE, color=(200, 40, 40), logo_color=None, seed=6)
    m = product_mask(Image.fromarray(p.image), onnx_model=model)
    assert m.source == "onnx"
    assert iou(m.alpha > 0.5, p.mask) >= (0.95 if static is None else 0.9)


def test_onnx_bad_model(tmp_path: Path) -> None:
    p = render_product("sphere", SIZE, seed=7)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(PipelineInputError, match="ONNX"):
        product_mask(Image.fromarray(p.image), onnx_model=bad)
    with pytest.raises(PipelineInputError, match="not found"):
        product_mask(Image.fromarray(p.image), onnx_model=tmp_path / "missing.onnx")
