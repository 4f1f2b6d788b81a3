"""The mini-batch pipeline: seeds -> sampler -> feature fetch -> device, prefetched in the background."""

from graphkit.loading.features import FeatureStore  # noqa: F401
from graphkit.loading.pipeline import EdgeSeeds, MiniBatch, NodeSeeds  # noqa: F401
