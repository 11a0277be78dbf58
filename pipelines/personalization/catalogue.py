"""Product catalogue: SKUs with images, prices per market and their real colourways.

A colourway is a brand palette entry (name -> hex) the product is actually sold in; the
personalizer only ever picks among these, never invents a colour. The first colourway is the
hero (used when a customer gives no colour signal). File format (YAML or JSON)::

    products:
      - sku: TEE-LOTUS
        name: {en: Lotus Tee, vi: Áo thun Hoa Sen}
        category: apparel
        prices: {VND: 249000, USD: 12.0, GBP: 10.0}
        image: images/tee-lotus.png          # relative to the catalogue file
        mask: images/tee-lotus.mask.png      # optional: white = product pixels
        colourways: {Lotus Pink: "#E75480", Jade: "#00A86B"}
        complements: [accessories]           # categories that go well after buying this
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines._common.data import load_data_file
from pipelines._common.errors import PipelineInputError, unknown_choice

_HEX_RE = re.compile(r"^#?[0-9a-fA-F]{6}$")
_SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CURRENCY_FORMATS = {"VND": "{:,.0f} ₫", "USD": "${:,.2f}", "GBP": "£{:,.2f}", "EUR": "€{:,.2f}"}


@dataclass(frozen=True)
class Product:
    """One SKU. ``colourways`` keeps file order; the first is the hero colourway."""

    sku: str
    names: Mapping[str, str]
    category: str
    prices: Mapping[str, float]
    image: Path
    colourways: Mapping[str, str]
    mask: Path | None = None
    complements: tuple[str, ...] = ()
    features: Mapping[str, str] = field(default_factory=dict)

    @property
    def hero_colourway(self) -> str:
        return next(iter(self.colourways))

    def name(self, language: str = "en") -> str:
        """Display name in ``language``, falling back to English then any name."""
        return self.names.get(language) or self.names.get("en") or next(iter(self.names.values()))

    def price_text(self, currency: str) -> tuple[str, str]:
        """(currency actually used, formatted price); falls back to USD, then the first price."""
        for cur in (currency, "USD", *self.prices):
            if cur in self.prices:
                fmt = CURRENCY_FORMATS.get(cur, "{:,.2f} " + cur)
                text = fmt.format(self.prices[cur])
                if cur == "VND":
                    text = text.replace(",", ".")  # Vietnamese thousands separator
                return cur, text
        raise PipelineInputError(f"product {self.sku} has no prices", field="catalogue.prices")


@dataclass(frozen=True)
class Catalogue:
    """Products in merchandising order (earlier = higher priority on ties)."""

    products: tuple[Product, ...]

    def __post_init__(self) -> None:
        if not self.products:
            raise PipelineInputError("catalogue has no products", field="catalogue.products")
        seen: set[str] = set()
        for p in self.products:
            if p.sku in seen:
                raise PipelineInputError(f"duplicate SKU {p.sku!r} in catalogue", field="catalogue.products")
            seen.add(p.sku)

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products)

    def __len__(self) -> int:
        return len(self.products)

    @property
    def skus(self) -> list[str]:
        return [p.sku for p in self.products]

    def get(self, sku: str, *, field: str = "sku") -> Product:
        for p in self.products:
            if p.sku.lower() == sku.strip().lower():
                return p
        raise unknown_choice("SKU", sku, self.skus, field=field)

    def colourway_name(self, sku: str, colourway: str, *, field: str = "colourway") -> str:
        """Canonical colourway name of ``sku`` matching ``colourway`` case-insensitively."""
        product = self.get(sku, field=field)
        for name in product.colourways:
            if name.lower() == colourway.strip().lower():
                return name
        raise unknown_choice(f"colourway of {product.sku}", colourway, product.colourways, field=field)


def load_catalogue(path: str | Path) -> Catalogue:
    """Load and validate a catalogue file; image paths resolve relative to the file."""
    p = Path(path)
    data = load_data_file(p, field="catalogue")
    return catalogue_from_dict(data, base_dir=p.parent)


def catalogue_from_dict(data: Any, *, base_dir: Path | None = None) -> Catalogue:
    """Build a catalogue from parsed data; every error names the product and field."""
    if not isinstance(data, Mapping) or not isinstance(data.get("products"), list):
        raise PipelineInputError("catalogue must be a mapping with a 'products' list", field="catalogue")
    base = base_dir or Path.cwd()
    products = []
    for i, raw in enumerate(data["products"]):
        where = f"catalogue.products[{i}]"
        if not isinstance(raw, Mapping):
            raise PipelineInputError(f"{where} must be a mapping", field=where)
        sku = str(raw.get("sku", "")).strip()
        if not _SKU_RE.match(sku):
            raise PipelineInputError(f"{where}.sku {sku!r} must be 1-64 letters, digits, '-', '_' or '.'", field=where)
        names = raw.get("name")
        if isinstance(names, str):
            names = {"en": names}
        if not isinstance(names, Mapping) or not names:
            raise PipelineInputError(f"{where}.name must be a string or a language -> name mapping", field=where)
        prices = raw.get("prices") or {}
        if not isinstance(prices, Mapping) or not prices:
            raise PipelineInputError(f"{where}.prices must map currency -> amount, e.g. {{USD: 12}}", field=where)
        try:
            clean_prices = {str(k).upper(): float(v) for k, v in prices.items()}
        except (TypeError, ValueError) as exc:
            raise PipelineInputError(f"{where}.prices: amounts must be numbers ({exc})", field=where) from exc
        if any(v < 0 for v in clean_prices.values()):
            raise PipelineInputError(f"{where}.prices: amounts must be >= 0", field=where)
        colourways = raw.get("colourways")
        if not isinstance(colourways, Mapping) or not colourways:
            raise PipelineInputError(f"{where}.colourways must map name -> '#RRGGBB'", field=where)
        clean_cw: dict[str, str] = {}
        for name, hexv in colourways.items():
            if not isinstance(hexv, str) or not _HEX_RE.match(hexv.strip()):
                raise PipelineInputError(
                    f"{where}.colourways[{name!r}] = {hexv!r} is not a hex colour like '#E75480'", field=where
                )
            clean_cw[str(name)] = "#" + hexv.strip().lstrip("#").upper()
        image = raw.get("image")
        if not isinstance(image, str) or not image:
            raise PipelineInputError(f"{where}.image is required (path to the product photo)", field=where)
        mask = raw.get("mask")
        products.append(
            Product(
                sku=sku,
                names={str(k): str(v) for k, v in names.items()},
                category=str(raw.get("category", "general")).strip().lower(),
                prices=clean_prices,
                image=(base / image).resolve(),
                colourways=clean_cw,
                mask=(base / mask).resolve() if isinstance(mask, str) and mask else None,
                complements=tuple(str(c).strip().lower() for c in raw.get("complements") or ()),
                features={str(k): str(v) for k, v in (raw.get("features") or {}).items()},
            )
        )
    return Catalogue(tuple(products))
