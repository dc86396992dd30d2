"""The product catalogue (`config/products.toml`, or `ATELIER_PRODUCTS_FILE`): Polar product → credits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from config.values import value

ProductKind = Literal["pack", "subscription"]
KINDS: tuple[ProductKind, ...] = ("pack", "subscription")
_FIELDS = {"polar_product_id", "name", "kind", "credits"}
_OPTIONAL = {"price_amount", "price_currency"}  # what the page shows before checkout; Polar charges its own price


# The example ids config/products.toml ships with; a deployment must replace them with its own products' ids.
PLACEHOLDER_PREFIX = "00000000-"


class CatalogueError(ValueError):
    """The catalogue file is missing or invalid; the message names the file and the entry."""


@value
class Product:
    polar_product_id: str
    name: str
    kind: ProductKind
    credits: int
    price_amount: int | None = None  # in the currency's smallest unit (cents)
    price_currency: str | None = None  # ISO 4217, lower case as Polar writes it ("usd")

    @property
    def placeholder(self) -> bool:
        """Whether the id is still one of the shipped examples (`00000000-…`)."""
        return self.polar_product_id.startswith(PLACEHOLDER_PREFIX)


@value
class Catalogue:
    products: tuple[Product, ...]

    def get(self, polar_product_id: str | None) -> Product | None:
        if polar_product_id is None:
            return None
        for product in self.products:
            if product.polar_product_id == polar_product_id:
                return product
        return None

    def __iter__(self) -> Iterator[Product]:
        return iter(self.products)


def _product(where: str, raw: Any) -> Product:
    if not isinstance(raw, dict):
        raise CatalogueError(f"{where}: each [[product]] must be a table")
    unknown = set(raw) - _FIELDS - _OPTIONAL
    missing = _FIELDS - set(raw)
    if unknown or missing:
        raise CatalogueError(f"{where}: unknown fields {sorted(unknown)} / missing fields {sorted(missing)}")
    pid, name, kind, credits = raw["polar_product_id"], raw["name"], raw["kind"], raw["credits"]
    if not isinstance(pid, str) or not pid.strip():
        raise CatalogueError(f"{where}: polar_product_id must be a non-empty string")
    if not isinstance(name, str) or not name.strip():
        raise CatalogueError(f"{where}: name must be a non-empty string")
    if kind not in KINDS:
        raise CatalogueError(f"{where}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if isinstance(credits, bool) or not isinstance(credits, int) or credits <= 0:
        raise CatalogueError(f"{where}: credits must be a whole number > 0")
    amount, currency = raw.get("price_amount"), raw.get("price_currency")
    if (amount is None) != (currency is None):
        raise CatalogueError(f"{where}: give price_amount and price_currency together, or neither")
    if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int) or amount < 0):
        raise CatalogueError(f"{where}: price_amount must be a whole number of cents >= 0")
    if currency is not None and (not isinstance(currency, str) or not re.fullmatch(r"[A-Za-z]{3}", currency)):
        raise CatalogueError(f"{where}: price_currency must be a three-letter ISO 4217 code")
    return Product(
        polar_product_id=pid.strip(),
        name=name.strip(),
        kind=kind,
        credits=credits,
        price_amount=amount,
        price_currency=currency.lower() if isinstance(currency, str) else None,
    )


def parse_catalogue(text: str, *, source: str = "catalogue") -> Catalogue:
    import tomllib  # noqa: PLC0415  (lazy: read by the billing routes, not needed to start the API)

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{source}: not valid TOML ({exc})") from exc
    unknown = set(data) - {"product"}
    if unknown:
        raise CatalogueError(f"{source}: unknown top-level keys {sorted(unknown)}")
    entries = data.get("product", [])
    if not isinstance(entries, list):
        raise CatalogueError(f"{source}: use [[product]] tables")
    products = tuple(_product(f"{source} product #{n + 1}", raw) for n, raw in enumerate(entries))
    seen: set[str] = set()
    for product in products:
        if product.polar_product_id in seen:
            raise CatalogueError(f"{source}: polar_product_id {product.polar_product_id} appears twice")
        seen.add(product.polar_product_id)
    return Catalogue(products)


def load_catalogue(path: Path) -> Catalogue:
    """Read and validate the catalogue; cached per file path and modification time."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise CatalogueError(f"product catalogue not found: {path.name}") from exc
    return _load(path, stat.st_mtime_ns)  # the path as given: resolving it cost more than the stat (each delivery)


@lru_cache(maxsize=8)
def _load(path: Path, _mtime_ns: int) -> Catalogue:
    return parse_catalogue(path.read_text(encoding="utf-8"), source=path.name)
