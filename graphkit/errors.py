"""Errors a user can act on.

Every error that comes from the user's input (a config, a table, a flag) is a
:class:`GraphkitError`. It carries where the problem is — file, row, column,
config key — and the CLI prints it as one paragraph and exits non-zero.
Anything else escaping a stage is a bug in graphkit and keeps its traceback.
"""

from __future__ import annotations

import difflib
from typing import Iterable, Optional


class GraphkitError(Exception):
    """A problem with the user's input, explained in one paragraph."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: Optional[str] = None,
        row: Optional[int] = None,
        column: Optional[str] = None,
        key: Optional[str] = None,
        hint: Optional[str] = None,
    ) -> None:
        self.message = message
        self.file = file
        self.row = row
        self.column = column
        self.key = key
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.key is not None:
            where.append(f"config key {self.key}")
        text = self.message
        if where:
            text = f"{', '.join(where)}: {text}"
        if self.hint:
            text = f"{text} {self.hint}"
        return text


class ConfigError(GraphkitError):
    """The construction or training config is invalid."""


class InputDataError(GraphkitError):
    """A table, column or value in the user's data is invalid."""


def closest(name: str, choices: Iterable[str]) -> Optional[str]:
    """The closest valid spelling of ``name`` among ``choices``, if any is close."""
    matches = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return matches[0] if matches else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A sentence suggesting the closest valid choice and listing all of them."""
    choices = sorted(choices)
    best = closest(name, choices)
    head = f"Did you mean '{best}'? " if best else ""
    return f"{head}Valid choices: {', '.join(choices)}."
