"""The TensorFlow adapter: same type/dtype/device back, tf.function, GradientTape, natives.

Values are checked against NumPy's float64 results of the same formulas with
mpmath-free, independently computed references (np.longdouble), and the
log1p form against the closed form exp(-30).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow", reason="tensorflow is not installed (lane tensorflow)")

import xpsoftmax as xs  # noqa: E402
from xpsoftmax.backends import backend_of  # noqa: E402

X = np.array([[0.0, -30.0, 1.0], [1000.0, 1.0, -2.0]])


def _ref_log_softmax(x: np.ndarray) -> np.ndarray:
    xl = x.astype(np.longdouble)
    m = xl.max(-1, keepdims=True)
    return (xl - m - np.log(np.exp(xl - m).sum(-1, keepdims=True))).astype(np.float64)


def test_detected_without_array_api():
    t = tf.constant(X)
    assert not hasattr(t, "__array_namespace__")
    assert backend_of(t).name == "tensorflow"
    assert backend_of(tf.Variable(X)).name == "tensorflow"


@pytest.mark.parametrize("impl", ["auto", "portable", "native"])
@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_type_dtype_device_and_values(impl, dtype):
    t = tf.constant(X, dtype=dtype)
    for fn in (xs.softmax, xs.log_softmax, xs.logsumexp):
        y = fn(t, impl=impl)
        assert isinstance(y, tf.Tensor) and y.dtype == dtype and y.device == t.device
    ls = xs.log_softmax(t, impl=impl).numpy()
    eps = np.finfo(dtype.as_numpy_dtype).eps
    np.testing.assert_allclose(ls, _ref_log_softmax(X), rtol=8 * eps, atol=0)
    np.testing.assert_allclose(
        xs.softmax(t, impl=impl).numpy(), np.exp(_ref_log_softmax(X)), rtol=8 * eps, atol=0
    )


def test_log1p_form_where_tf_loses_it():
    t = tf.constant([0.0, -30.0], dtype=tf.float32)
    ours = float(xs.log_softmax(t)[0])
    # -log1p(exp(-30)) = -exp(-30) to float32 accuracy
    assert ours == pytest.approx(-math.exp(-30.0), rel=1e-6)
    assert float(tf.nn.log_softmax(t)[0]) == 0.0  # the native's loss, recorded in docs
    assert float(xs.log_softmax(t, impl="native")[0]) == 0.0


def test_special_values_and_empty():
    t = tf.constant([[np.inf, 1.0], [-np.inf, -np.inf]])
    assert np.isnan(xs.softmax(t).numpy()).all()
    np.testing.assert_array_equal(xs.logsumexp(t).numpy(), [np.inf, -np.inf])
    assert xs.logsumexp(tf.zeros((2, 0))).numpy().tolist() == [-np.inf, -np.inf]
    assert xs.softmax(tf.zeros((2, 0))).shape == (2, 0)


def test_mask_int_and_half_input():
    t = tf.constant(X)
    w = tf.constant([[True, False, True], [False, False, False]])
    y = xs.softmax(t, where=w).numpy()
    assert y[1].tolist() == [0.0, 0.0, 0.0] and y[0, 1] == 0.0
    np.testing.assert_allclose(y[0, [0, 2]], np.exp(_ref_log_softmax(X[:1, [0, 2]]))[0], rtol=1e-14)
    assert xs.softmax(tf.constant([1, 2, 3])).dtype == tf.float32
    assert xs.softmax(tf.constant([1.0, 2.0], dtype=tf.float16)).dtype == tf.float16
    assert xs.softmax(tf.constant([1.0, 2.0], dtype=tf.bfloat16)).dtype == tf.bfloat16
    assert xs.softmax(t, dtype="float32").dtype == tf.float32


def test_bad_input_errors():
    t = tf.constant(X)
    with pytest.raises(ValueError, match="axis 2"):
        xs.softmax(t, axis=2)
    with pytest.raises(TypeError, match="dtype"):
        xs.softmax(t, dtype="int32")
    with pytest.raises(ValueError, match="impl='native'"):
        xs.softmax(t, axis=(0, 1), impl="native")
    # a NumPy mask beside a tensor is converted to TensorFlow, as for every library
    mask = np.array([[True, False, True], [True, True, False]])
    np.testing.assert_array_equal(
        xs.softmax(t, where=mask).numpy(), xs.softmax(t, where=tf.constant(mask)).numpy()
    )


def test_tf_function_and_gradient_tape():
    t = tf.constant(X)
    f = tf.function(lambda a: xs.log_softmax(a, axis=(0, 1)))
    np.testing.assert_allclose(
        f(t).numpy(), xs.log_softmax(t, axis=(0, 1)).numpy(), rtol=1e-15, atol=0
    )
    v = tf.Variable(X)
    w = tf.constant([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=tf.float64)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(w * xs.log_softmax(v))
    g = tape.gradient(loss, v).numpy()
    y = np.exp(_ref_log_softmax(X))
    np.testing.assert_allclose(g, w.numpy() - y * w.numpy().sum(-1, keepdims=True), atol=1e-15)
    assert np.isfinite(g).all()


def test_info_lists_tensorflow():
    from xpsoftmax._info import collect

    rows = [r for r in collect() if r["backend"] == "tensorflow"]
    assert rows and rows[0]["status"] == "ok" and rows[0]["target"] == "tensorflow:cpu"
    assert rows[0]["type"] == "EagerTensor"
