"""Workhand designer: authoring and recording robots."""
