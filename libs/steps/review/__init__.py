"""Human review: hand the current work item to people with both values of each field."""

from libs.steps.review.steps import request

__all__ = ["request"]
