"""Fixtures of the LM tests (builders in lm_fixtures.py)."""

import shutil

import pytest
from lm_fixtures import construct, make_tiny_bert, write_text_tables


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory):
    pytest.importorskip("transformers")
    return make_tiny_bert(str(tmp_path_factory.mktemp("tiny_bert")))


@pytest.fixture(scope="session")
def text_graph_src(tmp_path_factory, tiny_bert):
    """A constructed tiny text graph (session-wide: copy it before changing it, see ``text_graph``)."""
    root = tmp_path_factory.mktemp("text_graph")
    conf = write_text_tables(str(root / "tables"), tiny_bert)
    return construct(conf, str(root / "graph"))


@pytest.fixture
def text_graph(text_graph_src, tmp_path):
    """A private copy of the tiny text graph that a test may change."""
    dst = str(tmp_path / "graph")
    shutil.copytree(text_graph_src, dst)
    return dst
