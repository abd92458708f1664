"""Azure Functions route templates → aiohttp routes, ordered as the host orders them.

Templates follow ASP.NET routing: ``{id}``, ``{id:int}``, ``{id:alpha}``, ``{id:guid}``,
``{id?}`` (optional, last segment) and ``{*rest}`` (catch-all). Literal segments win
over parameters, as on the real host, so ``orders/open`` is matched before
``orders/{id}`` whatever the registration order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONSTRAINTS = {
    None: r"[^/]+",
    "int": r"-?\d+",
    "long": r"-?\d+",
    "alpha": r"[A-Za-z]+",
    "bool": r"(?i:true|false)",
    "guid": r"[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}",
}

_PARAM = re.compile(r"^\{(?P<star>\*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::(?P<c>[a-z]+))?(?P<opt>\?)?\}$")


class RouteTemplateError(ValueError):
    """The template uses syntax the devhost does not serve; it names the template."""


@dataclass(frozen=True)
class AiohttpRoute:
    path: str
    literal_segments: int
    parameter_segments: int


def _segment(seg: str, template: str) -> tuple[str, bool, bool]:
    """Return (aiohttp segment, is_literal, is_optional)."""
    match = _PARAM.match(seg)
    if not match:
        if "{" in seg or "}" in seg:
            raise RouteTemplateError(f"route {template!r}: unsupported segment {seg!r}")
        return seg, True, False
    name, constraint = match.group("name"), match.group("c")
    if match.group("star"):
        return "{" + name + ":.*}", False, False
    if constraint not in _CONSTRAINTS:
        raise RouteTemplateError(f"route {template!r}: unsupported constraint {constraint!r}")
    pattern = _CONSTRAINTS[constraint]
    return "{" + name + ":" + pattern + "}", False, bool(match.group("opt"))


def to_aiohttp(template: str, prefix: str = "/api") -> list[AiohttpRoute]:
    """One template gives one route, or two when its last parameter is optional."""
    segments = [s for s in template.strip("/").split("/") if s]
    converted: list[str] = []
    literals = params = 0
    optional_at: int | None = None
    for index, seg in enumerate(segments):
        path_seg, is_literal, is_optional = _segment(seg, template)
        if is_optional:
            if index != len(segments) - 1:
                raise RouteTemplateError(f"route {template!r}: only the last parameter may be optional")
            optional_at = index
        converted.append(path_seg)
        literals += is_literal
        params += not is_literal
    routes = [AiohttpRoute(prefix + "/" + "/".join(converted), literals, params)]
    if optional_at is not None:
        shorter = converted[:optional_at]
        routes.append(AiohttpRoute(prefix + ("/" + "/".join(shorter) if shorter else ""), literals, params - 1))
    return routes


def priority(route: AiohttpRoute) -> tuple[int, int]:
    """Sort key: more literal segments first, then fewer parameters; catch-alls last."""
    catch_all = ":.*}" in route.path
    return (int(catch_all), -route.literal_segments * 100 + route.parameter_segments)
