"""The container images of the components, pinned to the package version: the one place that names them.

``images/Dockerfile.cpu`` and ``images/Dockerfile.cuda`` build them (``scripts/build_images.sh``).
"""

from graphkit import __version__

REGISTRY = "ghcr.io/graphkit"
IMAGE = f"{REGISTRY}/graphkit:{__version__}"  # CPU: every stage
CUDA_IMAGE = f"{REGISTRY}/graphkit:{__version__}-cuda"  # GPU training (PyTorchJob workers, the train step on GPUs)
