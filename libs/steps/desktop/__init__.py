"""Desktop steps: drive desktop applications on the run's screen (X11 through XTest), finding
targets by picture, by OCR'd text, beside a label, or by point. Nothing here opens a display
until a robot's first desktop step (driver.py, session.py)."""
