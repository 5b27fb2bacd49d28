"""Pricing: the bundled price catalog, extra catalogs and overrides, and what a call cost.

Money is integer nano-dollars (see :mod:`daytwo.core.money`); prices are exact decimals in USD
per million tokens. The gateway builds one :class:`PriceBook` per configuration and asks it
:meth:`~PriceBook.admits` before a call and :meth:`~PriceBook.cost` after it.
"""

from __future__ import annotations

from daytwo.pricing.catalog import Match, PriceBook, UnpricedPolicy
from daytwo.pricing.catalog_file import Catalog, load_bundled, load_catalog_file
from daytwo.pricing.cost import compute_cost
from daytwo.pricing.entry import CatalogError, PriceEntry

__all__ = [
    "Catalog",
    "CatalogError",
    "Match",
    "PriceBook",
    "PriceEntry",
    "UnpricedPolicy",
    "compute_cost",
    "load_bundled",
    "load_catalog_file",
]
