"""Small helpers that read untyped JSON/YAML dicts strictly, with good errors."""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional, Type, TypeVar

from graphkit.errors import ConfigError, did_you_mean

T = TypeVar("T")


class Reader:
    """Reads keys of one config object; complains about unknown or missing keys.

    ``where`` is the object's path in the config (``nodes[1].features[0]``),
    ``file`` the config file, both used in every error message.
    """

    def __init__(self, obj: Any, where: str, file: Optional[str], allowed: Iterable[str]) -> None:
        if not isinstance(obj, Mapping):
            raise ConfigError(
                f"expected an object (a JSON dict), got {type(obj).__name__}: {obj!r:.80}.",
                file=file,
                key=where,
            )
        self.obj = obj
        self.where = where
        self.file = file
        allowed = set(allowed)
        for k in obj:
            if k not in allowed:
                raise ConfigError(
                    f"unknown key '{k}'.",
                    file=file,
                    key=self.path(k),
                    hint=did_you_mean(str(k), allowed),
                )

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def error(self, key: str, message: str, hint: Optional[str] = None) -> ConfigError:
        return ConfigError(message, file=self.file, key=self.path(key), hint=hint)

    def has(self, key: str) -> bool:
        return key in self.obj and self.obj[key] is not None

    def get(self, key: str, typ: Type[T] | tuple, default: Any = None, required: bool = False) -> Any:
        if key not in self.obj or self.obj[key] is None:
            if required:
                raise self.error(key, "this key is required but missing.")
            return default
        value = self.obj[key]
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, typ) or (typ in (int, float) and isinstance(value, bool)):
            names = typ.__name__ if isinstance(typ, type) else " or ".join(t.__name__ for t in typ)
            raise self.error(key, f"expected {names}, got {type(value).__name__} {value!r:.80}.")
        return value

    def get_str_list(self, key: str, required: bool = False) -> Optional[tuple[str, ...]]:
        """A string or a list of strings, returned as a tuple."""
        value = self.get(key, (str, list), required=required)
        if value is None:
            return None
        if isinstance(value, str):
            return (value,)
        if not value or not all(isinstance(v, str) for v in value):
            raise self.error(key, f"expected a string or a non-empty list of strings, got {value!r:.80}.")
        return tuple(value)

    def choice(self, key: str, choices: Iterable[str], default: Optional[str] = None,
               required: bool = False) -> Optional[str]:
        value = self.get(key, str, default=default, required=required)
        choices = list(choices)
        if value is not None and value not in choices:
            raise self.error(key, f"unknown value '{value}'.", hint=did_you_mean(value, choices))
        return value
