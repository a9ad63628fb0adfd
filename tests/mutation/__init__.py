"""Mutation testing by hand: remove each guard, policy and token check and see a test fail.

``python -m tests.mutation`` (see :mod:`tests.mutation.run`); not part of the default run.
"""
