"""A protected service's OpenAPI document and offline ``/docs`` (see ``iam_core.openapi``)."""

from __future__ import annotations

from iam_core.openapi import ERRORS, document, error_responses, serve_docs

__all__ = ["ERRORS", "document", "error_responses", "serve_docs"]
