"""Catalogue prices: the unquoted-YAML thousands pitfall (found by break-cli)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines._common.errors import PipelineInputError
from pipelines.personalization.catalogue import load_catalogue, parse_price


def _catalogue(tmp_path: Path, vnd: str) -> Path:
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 30, 40)).save(tmp_path / "p.png")
    p = tmp_path / "catalogue.yaml"
    p.write_text(
        "products:\n  - sku: TEE\n    name: Tee\n    category: apparel\n"
        f"    prices: {{VND: {vnd}}}\n    image: p.png\n    colourways: {{Red: '#C8281E'}}\n",
        encoding="utf-8",
    )
    return p


def test_unquoted_vnd_thousands_in_yaml_is_refused_with_the_fix(tmp_path: Path) -> None:
    # `VND: 249.000` unquoted is the YAML float 249.0: the ad said "249 ₫" instead of "249.000 ₫"
    with pytest.raises(PipelineInputError) as err:
        load_catalogue(_catalogue(tmp_path, "249.000"))
    msg = str(err.value)
    assert "products[0].prices.VND" in msg and "'249.000'" in msg and "quote" in msg, msg


@pytest.mark.parametrize(("vnd", "amount"), [("249000", 249000.0), ("'249.000'", 249000.0), ("249000.0", 249000.0)])
def test_vnd_prices_that_are_meant(tmp_path: Path, vnd: str, amount: float) -> None:
    cat = load_catalogue(_catalogue(tmp_path, vnd))
    assert cat.products[0].prices["VND"] == amount


def test_small_whole_usd_float_is_still_a_price() -> None:
    assert parse_price(9.0, "USD") == 9.0


def test_whole_yen_float_is_not_taken_for_the_thousands_pitfall() -> None:
    assert parse_price(500.0, "JPY") == 500.0  # ja_JP groups thousands with ',', so no ambiguity
