"""Agent runtimes: identities, OAuth clients and (later) the LLM-driven assistants.

This package reaches the IAM and the hotel services over HTTP only; it never imports
server internals.
"""
