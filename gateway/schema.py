"""JSON Schema pieces both API documents use; every enum is read from the code's own types."""

from __future__ import annotations

from enum import Enum
from typing import Any, get_args

Schema = dict[str, Any]

STR: Schema = {"type": "string"}


def obj(props: dict[str, Schema], required: list[str] | None = None) -> Schema:
    """A closed object: a field the code sends that the document does not name is drift."""
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": False,
    }


def values(kind: Any) -> list[Any]:
    """The values of a StrEnum or of a Literal, in their declared order."""
    if isinstance(kind, type) and issubclass(kind, Enum):
        return [member.value for member in kind]
    found = list(get_args(kind))
    if not found:
        raise TypeError(f"{kind!r} is neither an Enum nor a Literal")
    return found


def enum_of(kind: Any, *, nullable: bool = False) -> Schema:
    return {"enum": values(kind) + ([None] if nullable else [])}
