"""The feature-transform interface and its registry.

A transform is fitted once on the construction data (``fit`` returns a
JSON-serialisable *state*: vocabularies, min/max, quantiles, ...) and then
applied with that state — to the same rows at construction time, and to new
rows at inference time — so both see exactly the same transformation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Optional

import numpy as np

from graphkit.errors import ConfigError, did_you_mean
from graphkit.schema.gconstruct import FeatureSpec, TransformSpec


@dataclass(frozen=True)
class Param:
    """A transform parameter: accepted types, default, and whether it is required."""

    types: tuple
    default: Any = None
    required: bool = False
    doc: str = ""


class Transform:
    """Base class. Subclasses set ``name``, ``input`` and ``params`` and implement fit/apply.

    ``input`` is ``"numeric"`` (the caller passes a float64 ``(N, D)`` matrix,
    already imputed and checked finite), ``"text"`` (an object array of str or
    None) or ``"raw"`` (the :class:`ColumnRef` itself).
    """

    name: ClassVar[str]
    input: ClassVar[str] = "numeric"
    params: ClassVar[dict[str, Param]] = {}
    default_dtype: ClassVar[str] = "float32"
    max_columns: ClassVar[Optional[int]] = None  # e.g. 1 for to_categorical

    def __init__(self, spec: TransformSpec, feature: FeatureSpec, config_file: Optional[str]) -> None:
        self.spec = spec
        self.feature = feature
        self.config_file = config_file
        self.p: dict[str, Any] = {}
        for k, v in spec.params.items():
            if k not in self.params:
                raise self.error(k, f"unknown parameter '{k}' for transform '{self.name}'.",
                                 did_you_mean(k, self.params) if self.params else "This transform takes no parameters.")
            param = self.params[k]
            if isinstance(v, int) and not isinstance(v, bool) and float in param.types and int not in param.types:
                v = float(v)
            if not isinstance(v, param.types) or (isinstance(v, bool) and bool not in param.types):
                names = " or ".join(t.__name__ for t in param.types)
                raise self.error(k, f"expected {names}, got {v!r}.")
            self.p[k] = v
        for k, param in self.params.items():
            if k not in self.p:
                if param.required:
                    raise self.error(k, f"transform '{self.name}' needs parameter '{k}'. {param.doc}".strip())
                self.p[k] = param.default
        if self.max_columns is not None and len(feature.columns) > self.max_columns:
            raise ConfigError(f"transform '{self.name}' takes one column, got {list(feature.columns)}.",
                              file=config_file, key=f"{feature.key}.feature_col")
        self.validate()

    def error(self, param: str, message: str, hint: Optional[str] = None) -> ConfigError:
        return ConfigError(message, file=self.config_file, key=f"{self.spec.key}.{param}", hint=hint)

    def validate(self) -> None:
        """Check parameter values beyond their types (ranges, consistency)."""

    @property
    def out_dtype(self) -> str:
        return self.feature.out_dtype or self.default_dtype

    def output_names(self) -> list[str]:
        return [self.feature.name]

    def fit(self, x: Any) -> dict:
        """Learn the state from the construction data. Stateless transforms return {}."""
        return {}

    def apply(self, x: Any, state: dict) -> dict[str, np.ndarray]:
        raise NotImplementedError


REGISTRY: dict[str, type[Transform]] = {}


def register(cls: type[Transform]) -> type[Transform]:
    REGISTRY[cls.name] = cls
    return cls


def make_transform(feature: FeatureSpec, config_file: Optional[str]) -> Transform:
    from graphkit.construct import transforms  # noqa: F401  (fills the registry)

    name = feature.transform.name
    if name not in REGISTRY:
        raise ConfigError(f"unknown transform '{name}'.", file=config_file, key=f"{feature.transform.key}.name",
                          hint=did_you_mean(name, REGISTRY))
    return REGISTRY[name](feature.transform, feature, config_file)
