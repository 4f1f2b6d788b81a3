"""File and folder names derived from user-chosen type names."""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def safe_name(name: str) -> str:
    """A folder/file name for a node type, edge type or feature name (``%XX`` escapes)."""
    escaped = _UNSAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), name)
    return "%2E" + escaped[1:] if escaped.startswith(".") else escaped


def etype_dir(etype: tuple[str, str, str]) -> str:
    """Unique per edge type: the commas of ``src,rel,dst`` are escaped like any other character."""
    return safe_name(",".join(etype))
