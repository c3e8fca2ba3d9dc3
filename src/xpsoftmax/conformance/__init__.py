"""The conformance suite: the same cases on every backend, device and implementation.

* :mod:`.cases` - the catalogue (``data/cases.json``, mpmath references), the
  accuracy sets and the error bound in ulps;
* :mod:`.subjects` - xpsoftmax (portable/auto) on every backend x device, the
  frameworks' own functions, and the seed documents' alternatives;
* :mod:`.runner` / :mod:`.checks` - run them, with properties and transformations;
* :mod:`.run` (``xpsoftmax conformance``) and :mod:`.compare` (``xpsoftmax compare``).

>>> from xpsoftmax.conformance.cases import stored_cases
>>> c = next(c for c in stored_cases() if c.id == "seed001-1.5,0.8,-0.2/softmax")
>>> c.expected.round(6).tolist()
[0.595497, 0.295715, 0.108788]
"""
