"""A compact identity and access management core for AI agents.

Agents are first-class identities beside users and apps; they obtain four kinds of
signed JWT access token (Agent, On-Behalf-Of, User, App) through real OAuth flows,
and every decision lands in a tamper-evident audit log.

This package imports nothing from ``hotel``, ``agents`` or ``scenarios``.
"""

__version__ = "0.1.0"
