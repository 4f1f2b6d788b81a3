"""The Kubeflow layer: stage components, pipelines, the PyTorchJob launcher.

The only part of graphkit that imports kfp (:mod:`.components`, :mod:`.pipelines`,
:mod:`.compile`, :mod:`.local`, :mod:`.submit`) and the ``kubernetes`` client
(:mod:`.launcher`). This package's ``__init__`` imports neither: :mod:`.runtime`, which
runs inside every component, and :mod:`.image` are plain Python. The core library and
the CLI never import this package at module level.
"""
