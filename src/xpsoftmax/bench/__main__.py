"""``python -m xpsoftmax.bench [options]``: the same as ``xpsoftmax bench``."""

from __future__ import annotations

import argparse
import os
import sys

from .._cli_options import run
from .run import add_arguments, main

if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    parser = argparse.ArgumentParser(prog="python -m xpsoftmax.bench")
    add_arguments(parser)
    sys.exit(run(parser, main, parser.parse_args()))
