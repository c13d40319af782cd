"""The served model's input, written into the prediction API's OpenAPI document.

``PredictRequest`` alone says "a record, an image or base64"; what the model takes (its columns,
its image shape) is known only once a model is served. :func:`describe_inputs` rewrites the two
request bodies for that model, so that a client generating requests from ``/openapi.json``
(schemathesis, an SDK generator) sends what the server accepts, and the document refuses what
the server refuses: the image's exact nesting, integers ``0..255`` (not ``true``/``false``),
canonical base64 of exactly the right number of bytes, the record's columns and no others
(numeric ones: a number, number text such as ``"1.5e3"``, or ``null`` for a missing value). The
document follows the model: it is rebuilt when another model (or none) is served.
"""

from __future__ import annotations

import math
from typing import Any

from scanflow.models import InputSchema

from .inputs import NUMBER_TEXT

__all__ = ["describe_inputs"]

_B64 = "[A-Za-z0-9+/]"
# The last base64 character before '==' (one byte left) or '=' (two) carries only 2 or 4 bits.
_TAIL = {1: "[AQgw]==", 2: "[AEIMQUYcgkosw048]="}
_NUMBER = {"anyOf": [{"type": ["number", "null"]}, {"type": "string", "pattern": NUMBER_TEXT}]}
_JSON_TYPES = {"string": {"type": ["string", "null"]}, "boolean": {"type": ["boolean", "null"]}}


def describe_inputs(components: dict[str, Any], schema: InputSchema | None, max_batch: int) -> None:
    """Rewrite ``PredictRequest`` and ``BatchPredictRequest`` in ``components`` for ``schema``
    (no model served: left as they are)."""
    if schema is None or schema.kind not in ("image", "table") or "PredictRequest" not in components:
        return
    if schema.kind == "image":
        one = {"image": _image(schema.sample_shape), "image_b64": _base64(math.prod(schema.sample_shape))}
    else:
        one = {"record": _record(schema)}
    many = {{"image": "images", "image_b64": "images_b64", "record": "records"}[k]:
            {"type": "array", "items": v, "minItems": 1, "maxItems": max_batch} for k, v in one.items()}
    components["PredictRequest"] = _body(one, {"id": {"type": ["string", "null"]}},
                                         components["PredictRequest"])
    components["BatchPredictRequest"] = _body(
        many, {"ids": {"type": ["array", "null"], "items": {"type": "string"}}},
        components["BatchPredictRequest"])


def _body(fields: dict[str, Any], extra: dict[str, Any], generic: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly one of ``fields`` (the others may be absent or null)."""
    names = list(fields)
    branches = [{"required": [f], "properties": {f: fields[f], **{o: {"type": "null"} for o in names if o != f}}}
                for f in names]
    return {"title": generic.get("title"), "description": generic.get("description"), "type": "object",
            "properties": {**{f: {"anyOf": [fields[f], {"type": "null"}]} for f in names}, **extra},
            "additionalProperties": False, "oneOf": branches}


def _image(shape: tuple[int, ...]) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": 255}
    for size in reversed(shape):
        item = {"type": "array", "items": item, "minItems": size, "maxItems": size}
    return item


def _base64(n_bytes: int) -> dict[str, Any]:
    full, rest = divmod(n_bytes, 3)
    tail = _TAIL.get(rest, "")
    body = f"(?:{_B64}{{4}}){{{full}}}" + (f"{_B64}{{{rest}}}{tail}" if rest else "")
    return {"type": "string", "pattern": f"^{body}$",
            "description": f"base64 of {n_bytes} raw uint8 bytes, row-major"}


def _record(schema: InputSchema) -> dict[str, Any]:
    properties = {c.name: _NUMBER if c.numeric else _JSON_TYPES.get(c.type, {}) for c in schema.columns}
    return {"type": "object", "properties": properties, "required": schema.names,
            "additionalProperties": False}
