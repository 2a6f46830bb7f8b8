"""Builders, runners and comparisons shared by the test files.

A test file imports them from here (``from helpers.models import science_model``; the
tests directory is on ``sys.path``, see ``tests/conftest.py``), never from another test
file. Shared fixtures are in ``tests/conftest.py``; the official pipeline run as an
oracle is ``tests/oracle.py``. What the tests share with the benchmarks is in
``benchmarks/_common.py`` (put on ``sys.path`` here), re-exported by the helper module
it belongs with.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
