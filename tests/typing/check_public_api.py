"""Static checks of the public API's types: mypy checks this file (``mypy`` in CI).

Not a test module (pytest does not collect it); nothing here needs to run.  Each
``assert_type`` fails mypy if the inferred type differs: an array of a library
in gives the same library's array type out.
"""

from __future__ import annotations

from typing import assert_type

import dask.array as da
import jax
import jax.numpy as jnp
import numpy as np
import torch

import xpsoftmax as xs


def numpy_in_numpy_out(x: np.ndarray) -> None:
    assert_type(xs.softmax(x), np.ndarray)
    assert_type(xs.log_softmax(x, axis=0), np.ndarray)
    assert_type(xs.logsumexp(x, keepdims=True), np.ndarray)


def python_input_gives_numpy(values: list[float]) -> None:
    assert_type(xs.softmax(values), np.ndarray)
    assert_type(xs.softmax(1.0), np.ndarray)
    assert_type(xs.logsumexp([[0.0, 1.0]], axis=None), np.ndarray)


def torch_in_torch_out(t: torch.Tensor) -> None:
    assert_type(xs.softmax(t, impl="native"), torch.Tensor)
    assert_type(xs.log_softmax(t, where=t > 0), torch.Tensor)
    assert_type(xs.logsumexp(t, axis=(0, 1)), torch.Tensor)


def jax_in_jax_out(a: jax.Array) -> None:
    assert_type(xs.softmax(a), jax.Array)
    assert_type(xs.log_softmax(a, dtype=jnp.float32), jax.Array)
    assert_type(xs.logsumexp(a), jax.Array)


def dask_in_dask_out(d: da.Array) -> None:
    assert_type(xs.softmax(d), da.Array)


def losses_keep_the_library(x: np.ndarray, t: torch.Tensor, a: jax.Array) -> None:
    assert_type(xs.cross_entropy(x, x), np.ndarray)
    assert_type(xs.cross_entropy(t, t, axis=1, reduction="none"), torch.Tensor)
    assert_type(xs.binary_cross_entropy(a, a), jax.Array)
    assert_type(xs.log_sigmoid([0.0, 1.0]), np.ndarray)
