"""The product's identity, read from ``product.json`` (the one canonical copy)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PRODUCT_FILE = Path(__file__).resolve().parent.parent / "product.json"


@dataclass(frozen=True)
class ProductInfo:
    product_id: str
    display_name: str
    description: str
    version: str
    env_var_prefix: str
    config_dir_name: str
    backend_port: int
    package_name: str


@lru_cache(maxsize=1)
def product_info() -> ProductInfo:
    raw = json.loads(PRODUCT_FILE.read_text(encoding="utf-8"))
    return ProductInfo(
        product_id=raw["productId"],
        display_name=raw["displayName"],
        description=raw["description"],
        version=raw["version"],
        env_var_prefix=raw["envVarPrefix"],
        config_dir_name=raw["configDirName"],
        backend_port=int(raw["backendPort"]),
        package_name=raw["packageName"],
    )
