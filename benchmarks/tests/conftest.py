"""Helpers of the benchmark harness's tests: the package suite's themed corpus
and tiny offline BERT (run from the repository root, as `.ci/run` does)."""
from tests.conftest import THEMES, build_tiny_bert, make_corpus  # noqa: F401
