"""Rules both Store adapters apply before touching storage.

Why shared: the SQLite store and the Cosmos DB store must accept and reject the same
items, field paths, TTLs and patch paths, or code that passes locally fails in Azure.
Real Cosmos rejects these with HTTP 400 (the stand-in often does not), so both adapters
raise ``InvalidQuery`` before any I/O. Nothing here does I/O or imports Azure.
"""

from __future__ import annotations

import functools
import json
import json.encoder as _json_encoder
import json.scanner as _json_scanner
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from shared.ports import ContainerSpec, InvalidQuery, PatchOp

#: Properties the store owns. Cosmos adds all of these; only ``_etag`` and ``_ts`` are
#: part of the port, the others are dropped from results and ignored on writes.
SYSTEM_PROPERTIES = frozenset({"_rid", "_self", "_etag", "_attachments", "_ts", "_lsn"})
KEPT_SYSTEM_PROPERTIES = ("_etag", "_ts")

#: One identifier per dotted segment: keeps field paths safe to splice into Cosmos SQL
#: and SQLite JSON paths, and rejects anything that could smuggle syntax.
_SEGMENT = r"[A-Za-z_][A-Za-z0-9_]*"
FIELD_PATH_RE = re.compile(rf"^{_SEGMENT}(?:\.{_SEGMENT})*$")

#: Characters Cosmos DB does not allow in an id (they break the resource URL).
_BAD_ID_CHARS = frozenset("/\\?#")
MAX_ID_LENGTH = 255
MAX_PATCH_OPS = 10  # Cosmos DB's limit per patch request
MAX_BATCH_OPS = 100  # Cosmos DB's limit per transactional batch


def field_segments(field: str) -> list[str]:
    """Split a dotted field path, or raise ``InvalidQuery`` if it is not plain identifiers."""
    if not isinstance(field, str) or not FIELD_PATH_RE.fullmatch(field):
        raise InvalidQuery(f"invalid field path {field!r}: use dotted identifiers like 'a.b'")
    return field.split(".")


def get_path(doc: Mapping[str, Any], segments: Sequence[str]) -> Any:
    """The value at a dotted path, or ``None`` when any step is missing."""
    current: Any = doc
    for segment in segments:
        if not isinstance(current, Mapping) or segment not in current:
            return None
        current = current[segment]
    return current


def check_id(id: Any) -> str:
    """An id must be a non-empty string Cosmos DB can put in a URL."""
    if not isinstance(id, str) or not id or len(id) > MAX_ID_LENGTH:
        raise InvalidQuery(f"id must be a non-empty string of at most {MAX_ID_LENGTH} characters")
    if "/" in id or "\\" in id or "?" in id or "#" in id or id != id.strip():  # _BAD_ID_CHARS, one scan each
        raise InvalidQuery(f"id {id!r} contains characters Cosmos DB rejects")
    return id


def check_partition_key(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidQuery("partition key values are strings")
    return value


def check_ttl(item: Mapping[str, Any]) -> int | None:
    """Seconds until expiry for a per-item ``ttl``; ``None`` when the item never expires.

    Mirrors Cosmos DB with a container default of -1: absent/null/-1 never expire, a
    positive integer expires that long after the last write, anything else is a 400.
    """
    ttl = item.get("ttl")
    if ttl is None or (type(ttl) is int and ttl == -1):
        return None
    if type(ttl) is not int or ttl <= 0:
        raise InvalidQuery(f"ttl must be a positive integer or -1, not {ttl!r}")
    return ttl


_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), ensure_ascii=False)
#: The C encoder ``_ENCODER.encode`` builds on every call, built once: it is stateless
#: without ``markers`` (circular-reference tracking), so threads can share it. A cycle
#: then ends in RecursionError instead of ValueError: both are the 400 below.
_c_make_encoder: Any = getattr(_json_encoder, "c_make_encoder", None)
_C_ENCODE: Callable[[Any, int], list[str]] | None = None if _c_make_encoder is None else _c_make_encoder(
    None, _ENCODER.default, _json_encoder.encode_basestring, None, ":", ",", False, False, False)
#: The C scanner ``json.loads`` ends in, without its Python layers (type checks and the
#: trailing-whitespace scan): for text this module wrote, a JSON object and nothing else.
_SCAN: Callable[[str, int], tuple[Any, int]] = _json_scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]


def to_json(doc: Any) -> str:
    """Serialize strictly: NaN, infinities and non-JSON types (Decimal, datetime) are 400s."""
    try:
        if _C_ENCODE is not None:
            return "".join(_C_ENCODE(doc, 0))
        return _ENCODER.encode(doc)  # one encoder, not one per call as json.dumps(**options) builds
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidQuery(f"item is not JSON: {exc}") from exc


def from_json(text: str) -> Any:
    """Parse JSON text ``to_json`` made (stored documents): ``json.loads``, minus its checks."""
    try:
        return _SCAN(text, 0)[0]
    except StopIteration:  # not JSON at all: json.loads says so properly
        return json.loads(text)


@functools.lru_cache(maxsize=64)
def _pk_segments(partition_key_path: str) -> tuple[str, ...]:
    return tuple(partition_key_path.lstrip("/").split("/"))


def prepare_item(spec: ContainerSpec, item: Mapping[str, Any]) -> tuple[dict[str, Any], str, str]:
    """Validate an incoming item; returns (body without system properties, id, pk value).

    Items read from the store carry ``_etag``/``_ts``; writing them back unchanged is the
    normal read-modify-write path, so system properties are dropped, not rejected.
    """
    body, item_id, pk_value, _ = prepare_item_json(spec, item)
    return dict(body) if body is item else body, item_id, pk_value


def prepare_item_json(spec: ContainerSpec, item: Mapping[str, Any]) -> tuple[dict[str, Any], str, str, str]:
    """``prepare_item`` plus the body's JSON text: validating it *is* serializing it, so an
    adapter that stores text keeps the result instead of encoding the item twice.

    The body is the item itself when it is a dict with no system property (no copy):
    the caller reads it, never changes it.
    """
    if type(item) is dict and _no_system_property(item):
        body: dict[str, Any] = item
    elif isinstance(item, Mapping):
        body = {k: v for k, v in item.items() if k not in SYSTEM_PROPERTIES}
    else:
        raise InvalidQuery("an item is a JSON object")
    item_id = check_id(body.get("id"))
    segments = _pk_segments(spec.partition_key_path)
    pk_value = body.get(segments[0]) if len(segments) == 1 else get_path(body, segments)
    if pk_value is None:
        raise InvalidQuery(f"item {item_id!r} lacks its partition key field {spec.partition_key_path}")
    check_partition_key(pk_value)
    check_ttl(body)
    return body, item_id, pk_value, to_json(body)


def _no_system_property(item: dict[str, Any]) -> bool:
    """``SYSTEM_PROPERTIES.isdisjoint(item)``: six key lookups cost half of walking every key
    of the item, and every write asks."""
    return ("_etag" not in item and "_ts" not in item and "_rid" not in item and "_self" not in item
            and "_attachments" not in item and "_lsn" not in item)


def public_item(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The item as the port returns it: user fields plus only ``_etag`` and ``_ts``."""
    return {
        k: v for k, v in doc.items() if k not in SYSTEM_PROPERTIES or k in KEPT_SYSTEM_PROPERTIES
    }


def scalar_kind(value: Any) -> str:
    """The JSON type of a filter value: bool, number, string or null (else ``InvalidQuery``)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidQuery("filter numbers must be finite")
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    raise InvalidQuery(f"filter values are JSON scalars, not {type(value).__name__}")


def in_values(value: Any) -> list[Any]:
    """The list an ``in`` filter takes; a bare string is a mistake, not a sequence."""
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence | set | frozenset):
        raise InvalidQuery("'in' takes a list of values")
    values = list(value)
    for v in values:
        scalar_kind(v)
    return values


def check_patch_ops(ops: Sequence[PatchOp]) -> list[list[str]]:
    """Validate patch ops and return each op's unescaped JSON-pointer segments."""
    if not ops:
        raise InvalidQuery("a patch needs at least one operation")
    if len(ops) > MAX_PATCH_OPS:
        raise InvalidQuery(f"a patch takes at most {MAX_PATCH_OPS} operations")
    result = []
    for op in ops:
        if op.op not in ("set", "add", "replace", "remove", "incr"):
            raise InvalidQuery(f"unknown patch operation {op.op!r}")
        if not isinstance(op.path, str) or not op.path.startswith("/") or op.path == "/":
            raise InvalidQuery(f"patch path {op.path!r} must be a JSON pointer like '/a/b'")
        segments = [s.replace("~1", "/").replace("~0", "~") for s in op.path[1:].split("/")]
        if segments[0] in SYSTEM_PROPERTIES or segments[0] == "id":
            raise InvalidQuery(f"cannot patch {op.path!r}")
        if op.op == "incr" and (isinstance(op.value, bool) or not isinstance(op.value, int | float)):
            raise InvalidQuery("incr takes a number")
        if op.op != "remove":
            to_json(op.value)
        result.append(segments)
    return result


def _index(segment: str, size: int, *, allow_end: bool) -> int:
    if segment == "-" and allow_end:
        return size
    if not segment.isdigit():
        raise InvalidQuery(f"array index {segment!r} is not a number")
    index = int(segment)
    if index > size or (index == size and not allow_end):
        raise InvalidQuery(f"array index {index} is out of bounds")
    return index


def apply_patch(doc: dict[str, Any], ops: Sequence[PatchOp]) -> dict[str, Any]:
    """Apply Cosmos DB patch semantics to a copy of ``doc``.

    set: create or overwrite (parent must exist); add: like set, or insert into an
    array ('-' appends); replace/remove: the target must exist; incr: add to a number,
    creating it if absent. Any violation is ``InvalidQuery`` (Cosmos answers 400).
    """
    result: dict[str, Any] = from_json(to_json(doc))
    for op, segments in zip(ops, check_patch_ops(ops), strict=True):
        parent: Any = result
        for segment in segments[:-1]:
            if isinstance(parent, dict) and segment in parent:
                parent = parent[segment]
            elif isinstance(parent, list):
                parent = parent[_index(segment, len(parent), allow_end=False)]
            else:
                raise InvalidQuery(f"patch path {op.path!r}: parent does not exist")
        key = segments[-1]
        value = from_json(to_json(op.value)) if op.op != "remove" else None
        if isinstance(parent, list):
            if op.op == "add":
                parent.insert(_index(key, len(parent), allow_end=True), value)
                continue
            index = _index(key, len(parent), allow_end=False)
            if op.op == "remove":
                del parent[index]
            elif op.op == "incr":
                parent[index] = _incremented(parent[index], value, op.path)
            else:
                parent[index] = value
        elif isinstance(parent, dict):
            if op.op in ("replace", "remove") and key not in parent:
                raise InvalidQuery(f"patch path {op.path!r} does not exist")
            if op.op == "remove":
                del parent[key]
            elif op.op == "incr":
                parent[key] = _incremented(parent.get(key), value, op.path)
            else:
                parent[key] = value
        else:
            raise InvalidQuery(f"patch path {op.path!r}: parent is not an object or array")
    return result


def _incremented(current: Any, step: Any, path: str) -> Any:
    if current is None:
        return step
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise InvalidQuery(f"cannot increment non-numeric value at {path!r}")
    return current + step
