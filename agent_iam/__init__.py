"""``agent-iam``: the composition root and the command line, on top of the harness.

The commands (``cli``) and the operations of the IAM and the hotel (``serve``, ``token_flows``,
``audit``, ``demo``, ``tour``, ``chat``) live here; the attack harness lives in ``scenarios``,
and the in-process stack builder both use is ``scenarios.deployment``.
"""
