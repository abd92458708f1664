"""Strategy versions in the ``strategies`` container (partition = strategy id).

A version is immutable once written: changing parameters means a new version (the
approval workflow decides which one a profile runs), so every Decision can name the
exact parameters it used.
"""

from __future__ import annotations

from shared.domain.strategy import StrategyVersion
from shared.ports import NotFound, Store


class StrategyVersionNotFound(LookupError):
    pass


def version_doc_id(version: int) -> str:
    return f"version:{version:06d}"


def save_version(store: Store, version: StrategyVersion) -> StrategyVersion:
    """Create (never overwrite) a version; a second write of the same number conflicts."""
    doc = {**version.to_doc(), "id": version_doc_id(version.version), "kind": "strategy-version"}
    store.container("strategies").create(doc)
    return version


def load_version(store: Store, strategy_id: str, version: int) -> StrategyVersion:
    try:
        doc = store.container("strategies").read(version_doc_id(version), strategy_id)
    except NotFound:
        raise StrategyVersionNotFound(f"strategy {strategy_id!r} has no version {version}") from None
    return StrategyVersion.from_doc({k: v for k, v in doc.items() if k not in ("id", "kind")})
