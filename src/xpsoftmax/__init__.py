"""xpsoftmax: softmax, log_softmax and logsumexp, written once for every array library.

>>> import xpsoftmax as xs
>>> xs.softmax([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], axis=1).round(4)
array([[0.09  , 0.2447, 0.6652],
       [0.09  , 0.2447, 0.6652]])
"""

from ._api import log_softmax, logmeanexp, logsumexp, softmax
from ._api_losses import binary_cross_entropy, cross_entropy, log_sigmoid
from ._linear_ce_api import (
    LinearCrossEntropyGrad,
    linear_cross_entropy,
    linear_cross_entropy_grad,
)

__all__ = [
    "LinearCrossEntropyGrad",
    "__version__",
    "binary_cross_entropy",
    "cross_entropy",
    "linear_cross_entropy",
    "linear_cross_entropy_grad",
    "log_sigmoid",
    "log_softmax",
    "logmeanexp",
    "logsumexp",
    "softmax",
]
__version__ = "0.1.0"
