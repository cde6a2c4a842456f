"""HTTP steps (httpx): call web APIs and plain pages of the bank's internal systems.

Imports inside this package are absolute, so the standard library's ``http`` is never shadowed.
"""

from libs.steps.http.steps import BasicAuth, BearerAuth, get, post, request

__all__ = ["BasicAuth", "BearerAuth", "get", "post", "request"]
