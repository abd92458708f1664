"""Base model and money helpers shared by every domain model.

Why: documents are stored as JSON with camelCase keys (the Cosmos convention the API
and dashboard also use), money is ``Decimal`` (serialised as a string so no float ever
touches it), and every time is timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware (UTC)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]


def _finite_decimal(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("money must be a finite decimal")
    return value


Money = Annotated[Decimal, AfterValidator(_finite_decimal)]


class DomainModel(BaseModel):
    """Immutable, camelCase on the wire, strict about unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="forbid",
        ser_json_inf_nan="strings",
    )

    def to_doc(self) -> dict[str, Any]:
        """The JSON-safe document stored in a container (Decimals as strings)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=False)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Self:
        """Parse a stored document, ignoring the store's system properties."""
        clean = {k: v for k, v in doc.items() if not k.startswith("_") and k != "ttl"}
        return cls.model_validate(clean)


def round_to_step(value: Decimal, step: Decimal, rounding: str = ROUND_DOWN) -> Decimal:
    """Round to a multiple of ``step`` (tick or lot size); quantities round down."""
    if step <= 0:
        raise ValueError("step must be positive")
    return (value / step).to_integral_value(rounding=rounding) * step


def round_price(value: Decimal, tick: Decimal) -> Decimal:
    return round_to_step(value, tick, ROUND_HALF_EVEN)
