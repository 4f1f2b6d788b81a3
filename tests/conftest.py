"""Shared test settings: tests run two at a time (pytest -n 2) on two cores, so each uses one thread."""

import numba
import torch

torch.set_num_threads(1)
numba.set_num_threads(1)  # the sampling kernels' parallel loops: two threads per worker oversubscribe the cores
