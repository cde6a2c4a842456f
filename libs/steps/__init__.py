"""Step libraries: one sub-package per capability; every step is registered with @step."""
