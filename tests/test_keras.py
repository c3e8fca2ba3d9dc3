"""Keras 3 variables as input, under each Keras backend (JAX, PyTorch, TensorFlow).

A ``keras.Variable`` is no array of its backend but holds one: xpsoftmax
takes its ``.value`` (only when the caller has imported keras) and returns
the backend's tensor, as ``keras.ops`` does.  Keras picks its backend once,
at import, from ``KERAS_BACKEND``: each backend runs in a subprocess of its
own.  The TensorFlow case runs in the tensorflow lane's venv (the all-cpu
lane has no TensorFlow), the JAX and PyTorch cases where keras is installed
with them; each skips with the reason where its pieces are missing.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import xpsoftmax

FRAMEWORK = {"jax": "jax", "torch": "torch", "tensorflow": "tensorflow"}

# Values against NumPy's float32 results of the same call (the NumPy path is
# checked against mpmath elsewhere); gradients against softmax, the
# derivative of logsumexp, in closed form.
SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import keras
    import xpsoftmax as xs

    backend = sys.argv[1]
    assert keras.backend.backend() == backend, keras.backend.backend()
    x = np.array([[0.0, -30.0, 1.0], [1000.0, 1.0, -2.0]], np.float32)
    bw = np.array([[1.0, -1.0, 2.0], [1.0, 1.0, 0.0]], np.float32)
    v = keras.Variable(x)
    tensor_type = type(keras.ops.convert_to_tensor(v))
    for f in (xs.softmax, xs.log_softmax, xs.logsumexp, xs.logmeanexp):
        y = f(v)
        assert not isinstance(y, keras.Variable) and keras.ops.is_tensor(y), type(y)
        got = keras.ops.convert_to_numpy(y)
        assert got.dtype == np.float32, got.dtype
        np.testing.assert_allclose(got, f(x), rtol=4e-7, atol=0)
    got = xs.logsumexp(v, b=keras.Variable(bw), return_sign=True)
    for g, w in zip(got, xs.logsumexp(x, b=bw, return_sign=True)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(g), w, rtol=4e-7)
    keep = keras.Variable(np.array([[True, False, True]] * 2), trainable=False)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(xs.softmax(v, where=keep)),
        xs.softmax(x, where=np.array([[True, False, True]] * 2)),
        rtol=4e-7,
    )

    # the gradient reaches the variable
    want = xs.softmax(x)
    if backend == "torch":
        xs.logsumexp(v).sum().backward()
        grad = v.value.grad.numpy()
    elif backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(xs.logsumexp(v))
        grad = tape.gradient(loss, v.value).numpy()
    else:
        import jax
        import jax.numpy as jnp

        def loss(value):
            with keras.StatelessScope(state_mapping=[(v, value)]):
                return jnp.sum(xs.logsumexp(v))

        grad = np.asarray(jax.grad(loss)(v.value))
    np.testing.assert_allclose(grad, want, rtol=4e-6, atol=1e-30)
    try:
        xs.softmax(keras.Input((3,)))
    except TypeError as exc:
        assert "inside a layer's call()" in str(exc), exc
    else:
        raise AssertionError("a KerasTensor was taken")
    print("ok", tensor_type.__name__)
    """
)


def _missing(backend: str) -> str | None:
    for module in ("keras", FRAMEWORK[backend]):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (Keras backend {backend})"
    return None


@pytest.fixture(scope="module")
def runs():
    """One subprocess per runnable Keras backend, all started at once: most
    of each one's time is importing keras, which they do side by side."""
    # the xpsoftmax under test, also where it is not installed (PYTHONPATH=src)
    src = str(Path(xpsoftmax.__file__).resolve().parent.parent)
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)
    procs = {}
    for backend in FRAMEWORK:
        if _missing(backend) is None:
            env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=path, TF_CPP_MIN_LOG_LEVEL="3")
            procs[backend] = subprocess.Popen(
                [sys.executable, "-c", SCRIPT, backend],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
    yield procs
    for proc in procs.values():  # only if a test stopped before reading it
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.parametrize("backend", sorted(FRAMEWORK))
def test_keras_variable_under_backend(backend, runs):
    why = _missing(backend)
    if why is not None:
        pytest.skip(why)
    out, err = runs[backend].communicate(timeout=300)
    assert runs[backend].returncode == 0, err[-4000:]
    assert out.startswith("ok"), out
