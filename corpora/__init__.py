"""Generators of the sample, benchmark and evaluation corpora: development and demo code.

No stage imports this package (tests/test_boundaries.py checks it); `lakehouse sample`,
the tests and bench/ do. Executor archives (infra/submit.sh) leave it out.
"""
