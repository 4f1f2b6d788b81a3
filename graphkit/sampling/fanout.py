"""Fanouts: how many in-neighbours to sample per layer (and per edge type).

Accepted forms (GraphStorm's):

- ``"10,10"`` — every edge type, 10 per layer (first = the layer next to the input);
- ``"rates:10@rates-rev:5,rates:5@rates-rev:5"`` — per edge type and layer, the
  edge type given by relation name (if unique) or as ``src,rel,dst``;
  edge types not named get 0 (not sampled) in that layer;
- ``-1`` means all neighbours; a Python list of ints or of dicts works too.
"""

from __future__ import annotations

import re
from typing import Sequence, Union

from graphkit.errors import ConfigError

EdgeType = tuple[str, str, str]
FanoutSpec = Union[str, int, Sequence[int], Sequence[dict]]

_ITEM = re.compile(r"\s*([^:@]+?)\s*:\s*(-?\d+)\s*([@,]|$)")


def _resolve(name: str, etypes: Sequence[EdgeType], key: str) -> EdgeType:
    parts = tuple(p.strip() for p in name.split(","))
    if len(parts) == 3 and parts in etypes:
        return parts  # type: ignore[return-value]
    matches = [e for e in etypes if e[1] == name]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(",".join(e) for e in etypes)
    why = "is ambiguous" if matches else "is not an edge type"
    raise ConfigError(f"fanout edge type '{name}' {why}.", key=key, hint=f"Edge types: {known}.")


def _check(n: int, key: str) -> int:
    if n < -1:
        raise ConfigError(f"fanout {n} is invalid: use a positive count, 0, or -1 for all neighbours.", key=key)
    return n


def parse_fanout(spec: FanoutSpec, etypes: Sequence[EdgeType], key: str = "fanout") -> list[dict[EdgeType, int]]:
    """Per-layer ``{edge type: fanout}``, input layer first."""
    etypes = list(etypes)
    if isinstance(spec, int):
        spec = [spec]
    if isinstance(spec, str):
        text = spec.strip()
        if ":" not in text:
            try:
                spec = [int(x) for x in text.split(",") if x.strip()]
            except ValueError:
                raise ConfigError(f"cannot read fanout '{spec}'.", key=key,
                                  hint='Use e.g. "10,10" or "rates:10@rates-rev:5,rates:5@rates-rev:5".') from None
        else:
            layers: list[dict] = [{}]
            pos = 0
            while pos < len(text):
                m = _ITEM.match(text, pos)
                if not m:
                    raise ConfigError(f"cannot read fanout '{spec}' near '{text[pos:pos + 20]}'.", key=key)
                layers[-1][m.group(1)] = int(m.group(2))
                if m.group(3) == ",":
                    layers.append({})
                pos = m.end()
            spec = layers
    out: list[dict[EdgeType, int]] = []
    for layer in spec:  # type: ignore[union-attr]
        if isinstance(layer, dict):
            d = {e: 0 for e in etypes}
            for name, n in layer.items():
                et = tuple(name) if isinstance(name, tuple) else _resolve(str(name), etypes, key)
                d[et] = _check(int(n), key)  # type: ignore[index]
            out.append(d)
        else:
            out.append({e: _check(int(layer), key) for e in etypes})
    if not out:
        raise ConfigError("fanout is empty: give one number per GNN layer.", key=key)
    return out
