"""Chart annotations: a user's trend lines, rectangles and text on a symbol's chart.

Why on the server: a trader's drawings follow them from the dashboard to another browser
or machine. Stored in ``profiles`` (partition = tenant; DESIGN puts users' settings
there) as ``kind = "annotation"`` with the owner's user id: each user sees and deletes
only their own, and the tenant comes from the token, so another tenant's never show.

The shape is serializable and chart-library neutral: ``shapeType``, ``points`` (time in
UTC and price), ``style`` (color, line width, dash, fill), ``label``.
"""

from __future__ import annotations

import uuid
from typing import Any, Final, Literal

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

from functions.api_kit import ApiContext, ApiResponse, api_route
from functions.http_kit import HttpProblem
from shared.auth.principal import Role
from shared.bootstrap import runtime
from shared.ports import Filter, NotFound, OrderBy, Query
from shared.services.listing import all_items

bp = func.Blueprint()
TAGS = ("market",)
KIND: Final = "annotation"
MAX_PER_SYMBOL: Final = 200
SYMBOL = r"^[A-Z0-9]{2,30}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class ChartPoint(_Model):
    time: AwareDatetime
    price: float = Field(gt=0, allow_inf_nan=False)


class ShapeStyle(_Model):
    color: str = Field(default="#2962ff", pattern=r"^#[0-9a-fA-F]{6}$")
    line_width: int = Field(default=2, ge=1, le=8)
    line_style: Literal["solid", "dashed", "dotted"] = "solid"
    fill: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}([0-9a-fA-F]{2})?$")


#: Points each shape needs: a line and a box by two corners, a text by its anchor.
POINTS: Final = {"trend-line": 2, "rectangle": 2, "text": 1}


class AnnotationWrite(_Model):
    symbol: str = Field(pattern=SYMBOL)
    shape_type: Literal["trend-line", "rectangle", "text"]
    points: list[ChartPoint] = Field(min_length=1, max_length=2)
    style: ShapeStyle = Field(default_factory=ShapeStyle)
    label: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _shape(self) -> AnnotationWrite:
        need = POINTS[self.shape_type]
        if len(self.points) != need:
            raise ValueError(f"a {self.shape_type} takes {need} point{'s' if need > 1 else ''}")
        if self.shape_type == "text" and not self.label.strip():
            raise ValueError("a text annotation needs a label")
        return self


class AnnotationsQuery(_Model):
    symbol: str = Field(pattern=SYMBOL)


def _view(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_") and k not in ("kind", "tenantId")}


def _own(ctx: ApiContext, symbol: str) -> list[dict[str, Any]]:
    query = Query(where=[Filter("kind", "=", KIND), Filter("userId", "=", ctx.caller.user_id),
                         Filter("symbol", "=", symbol)], order_by=OrderBy("createdAt"), limit=MAX_PER_SYMBOL)
    return list(all_items(runtime().store.container("profiles"), query, ctx.caller.tenant_id))


@api_route(bp, name="annotations_list", method="GET", route="v1/annotations", role=Role.VIEWER,
           query=AnnotationsQuery, tags=TAGS, summary="The caller's chart annotations on a symbol, oldest first")
def list_annotations(ctx: ApiContext) -> dict[str, Any]:
    return {"items": [_view(d) for d in _own(ctx, ctx.query.symbol)], "continuation": None}


@api_route(bp, name="annotations_create", method="POST", route="v1/annotations", role=Role.TRADER,
           request=AnnotationWrite, tags=TAGS, success_status=201, extra_statuses=(409,),
           summary="Save a trend line, rectangle or text on a symbol's chart")
def create_annotation(ctx: ApiContext) -> ApiResponse:
    body: AnnotationWrite = ctx.body
    if len(_own(ctx, body.symbol)) >= MAX_PER_SYMBOL:
        raise HttpProblem(409, "Too many annotations", f"At most {MAX_PER_SYMBOL} per symbol; delete some first.")
    rt = runtime()
    doc = {"id": f"annotation:{uuid.uuid4().hex}", "kind": KIND, "tenantId": ctx.caller.tenant_id,
           "userId": ctx.caller.user_id, "createdAt": rt.clock.now().isoformat().replace("+00:00", "Z"),
           **body.model_dump(mode="json", by_alias=True)}
    saved = rt.store.container("profiles").create(doc)
    return ApiResponse(_view(saved), status=201)


@api_route(bp, name="annotations_delete", method="DELETE", route="v1/annotations/{annotationId}", role=Role.TRADER,
           tags=TAGS, success_status=204, summary="Delete one of the caller's annotations")
def delete_annotation(ctx: ApiContext) -> ApiResponse:
    profiles = runtime().store.container("profiles")
    annotation_id = ctx.route_params["annotationId"]
    doc = profiles.read(annotation_id, ctx.caller.tenant_id)
    if doc.get("kind") != KIND or doc.get("userId") != ctx.caller.user_id:
        raise NotFound("no such annotation")  # someone else's is not there for this caller
    profiles.delete(annotation_id, ctx.caller.tenant_id, if_match=doc["_etag"])
    return ApiResponse(None, status=204)
