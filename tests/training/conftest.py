"""Fixtures of the training tests; the toy graph itself is described in ``toy_graph.py``."""

from __future__ import annotations

import pytest
from toy_graph import build_toy_graph

from graphkit.storage.graph import Graph


@pytest.fixture(scope="session")
def toy_graph(tmp_path_factory: pytest.TempPathFactory) -> Graph:
    return build_toy_graph(str(tmp_path_factory.mktemp("toy") / "graph"))
