"""Scenarios, deployments and the ``agent-iam`` command line."""
