"""Product catalogue: SKUs with images, prices per market and their real colourways.

A colourway is a brand palette entry (name -> hex) the product is actually sold in; the
personalizer only ever picks among these, never invents a colour. The first colourway is the
hero (used when a customer gives no colour signal). File format (YAML or JSON)::

    products:
      - sku: TEE-LOTUS
        name: {en: Lotus Tee, vi: Áo thun Hoa Sen}
        category: apparel
        prices: {VND: 249000, USD: 12.0, GBP: 10.0}   # numbers, or text in the market's notation:
                                              # {VND: "249.000"} = 249000 (vi_VN), {USD: "1,290.50"}
        image: images/tee-lotus.png          # relative to the catalogue file
        mask: images/tee-lotus.mask.png      # optional: white = product pixels
        colourways: {Lotus Pink: "#E75480", Jade: "#00A86B"}
        complements: [accessories]           # categories that go well after buying this

Prices given as text are parsed with Babel in the locale of their currency (VND: vi_VN, where
"." groups thousands and "," is the decimal mark; USD: en_US; GBP: en_GB; ...) or the catalogue's
top-level ``locale:``. Text that is ambiguous in that locale ("12.5" in vi_VN) or has more
decimals than the currency allows (a fractional VND) is an error, never a silently re-scaled
amount.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines._common.data import load_data_file
from pipelines._common.errors import PipelineInputError, unknown_choice

_HEX_RE = re.compile(r"^#?[0-9a-fA-F]{6}$")
_SKU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# Locale whose notation a price written as text follows, per currency (a catalogue may set `locale:`).
PRICE_LOCALES = {"VND": "vi_VN", "USD": "en_US", "GBP": "en_GB", "JPY": "ja_JP", "SGD": "en_SG", "THB": "th_TH"}
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
        clean_prices = {
            str(k).upper(): parse_price(v, str(k).upper(), locale=data.get("locale"), where=f"{where}.prices.{k}")
            for k, v in prices.items()
        }
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
        if not isinstance(image, str) or not image or "\x00" in image:
            raise PipelineInputError(f"{where}.image is required (path to the product photo)", field=where)
        mask = raw.get("mask")
        if mask is not None and (not isinstance(mask, str) or "\x00" in mask):
            raise PipelineInputError(f"{where}.mask must be a path to a mask image", field=where)
        features = raw.get("features") or {}
        if not isinstance(features, Mapping):
            raise PipelineInputError(f"{where}.features must map language -> text", field=where)
        complements = raw.get("complements") or ()
        if isinstance(complements, str) or not isinstance(complements, list | tuple):
            raise PipelineInputError(f"{where}.complements must be a list of categories", field=where)
        products.append(
            Product(
                sku=sku,
                names={str(k): str(v) for k, v in names.items()},
                category=str(raw.get("category", "general")).strip().lower(),
                prices=clean_prices,
                image=(base / image).resolve(),
                colourways=clean_cw,
                mask=(base / mask).resolve() if isinstance(mask, str) and mask else None,
                complements=tuple(str(c).strip().lower() for c in complements),
                features={str(k): str(v) for k, v in features.items()},
            )
        )
    return Catalogue(tuple(products))


def parse_price(value: Any, currency: str, *, locale: Any = None, where: str = "price") -> float:
    """Amount of a catalogue price: a number, or text in the currency's locale (Babel, strict).

    ``parse_price("1.290.000", "VND")`` -> 1290000.0; ``parse_price("12.5", "VND")`` raises
    (ambiguous in vi_VN: 125 or 12,5?); ``parse_price("12,5", "VND")`` raises (VND has no
    decimals). Raises PipelineInputError naming ``where`` and the accepted notation.
    """
    from babel.core import UnknownLocaleError
    from babel.numbers import NumberFormatError, get_currency_precision, get_group_symbol, parse_decimal

    if isinstance(value, bool) or value is None:
        raise PipelineInputError(f"{where}: {value!r} is not an amount", field=where)
    if isinstance(value, int | float):
        amount = float(value)
        if math.isfinite(amount) and amount != int(amount) and get_currency_precision(currency) == 0:
            raise PipelineInputError(
                f"{where}: {value!r} has decimals but {currency} allows none; write the whole amount "
                f"(e.g. 249000, or the text '249.000')",
                field=where,
            )
        loc = str(locale) if locale else PRICE_LOCALES.get(currency)
        if (isinstance(value, float) and get_currency_precision(currency) == 0 and 0 < amount < 1000
                and loc and get_group_symbol(loc) == "."):
            # an unquoted YAML `249.000` (vi_VN thousands) is the float 249.0: the ad would say "249 ₫"
            raise PipelineInputError(
                f"{where}: {value!r} is a decimal number below 1000 and {currency} has no decimals; an "
                f"unquoted YAML '{amount:.3f}' is read as {value!r}: quote it ('{amount:.3f}') or write "
                f"{int(amount) * 1000}",
                field=where,
            )
    elif isinstance(value, str):
        loc = str(locale) if locale else PRICE_LOCALES.get(currency)
        text = value.strip().replace("\u00a0", " ")
        if re.fullmatch(r"-?\d+", text):
            amount = float(int(text))
        elif loc is None:
            raise PipelineInputError(
                f"{where}: {value!r} is text and {currency} has no default number notation; write a plain "
                f"number (e.g. 1290.5) or set the catalogue's 'locale:' (e.g. de_DE)",
                field=where,
            )
        else:
            try:
                dec = parse_decimal(text, locale=loc, strict=True)
            except (NumberFormatError, UnknownLocaleError, ValueError) as exc:
                hint = getattr(exc, "suggestions", None)
                raise PipelineInputError(
                    f"{where}: {value!r} is not an amount in {loc} notation"
                    + (f" (ambiguous: did you mean {' or '.join(repr(h) for h in hint)}?)" if hint else "")
                    + f"; write a plain number like 249000 or {loc} text like "
                    + ("'1.290.000'" if loc.startswith("vi") else "'1,290.00'"),
                    field=where,
                ) from None
            exponent = dec.as_tuple().exponent
            digits = -exponent if isinstance(exponent, int) else 0
            precision = get_currency_precision(currency)
            if dec != dec.to_integral_value() and digits > precision:
                raise PipelineInputError(
                    f"{where}: {value!r} has {digits} decimals but {currency} allows {precision}; "
                    f"in {loc} '.' groups thousands" + (" and ',' marks decimals" if loc.startswith("vi") else ""),
                    field=where,
                )
            amount = float(dec)
    else:
        raise PipelineInputError(f"{where}: {value!r} is not an amount (number or text)", field=where)
    if not math.isfinite(amount) or amount < 0:
        raise PipelineInputError(f"{where}: amounts must be finite and >= 0 (got {value!r})", field=where)
    return amount
