"""Mail steps: send notifications and reports through the bank's SMTP server."""

from libs.steps.mail.send import send

__all__ = ["send"]
