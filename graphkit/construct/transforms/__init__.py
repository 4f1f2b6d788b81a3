"""Feature transforms, one per file; importing this package registers them all."""

from graphkit.construct.transforms import (  # noqa: F401
    bucket,
    categorical,
    hard_negative,
    hf,
    minmax,
    noop,
    rank_gauss,
    row_normalize,
    standard,
)
from graphkit.construct.transforms.base import REGISTRY, Transform, make_transform  # noqa: F401
