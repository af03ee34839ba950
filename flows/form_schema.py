"""How the flow parameters read in the Prefect UI's run form (v2 and v1 pages).

Two things pydantic's schema does not say the way the UI needs it:

- **Order**: the UI lays a section out in the order of its properties, and the endpoint
  comes first (it is what a user edits most), not after the inherited plan fields.
- **The endpoint choice**: pydantic writes a discriminated union as ``oneOf``; the v2 page
  renders it as a type choice, the v1 page only as a JSON blob. As ``anyOf`` (the same
  choices: each one's ``type`` is a constant, so exactly one matches) both pages render it
  as a choice of type with that type's fields.
"""

from __future__ import annotations

from typing import Any

__all__ = ["endpoint_first"]


def _any_of(schema: dict[str, Any]) -> None:
    if "oneOf" in schema:
        schema["anyOf"] = schema.pop("oneOf")


def endpoint_first(schema: dict[str, Any]) -> None:
    """``json_schema_extra`` of the sweep and suite models: endpoint(s) first, as a choice."""
    properties = schema.get("properties", {})
    for name in ("endpoint", "endpoints"):
        if name in properties:
            prop = properties.pop(name)
            _any_of(prop.get("items", prop))
            schema["properties"] = {name: prop, **properties}
