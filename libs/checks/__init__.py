"""The checker's parts, one concern each; libs/checker.py puts them together."""
