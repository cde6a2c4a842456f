"""File steps: list, copy, move, delete, wait for downloads, read and write text, zip and unzip.

Paths follow one rule (see ``paths``): read from the robot's folder, written to the run's output
folder, absolute paths as given.
"""

from libs.steps.files.archive import unzip, zip_files
from libs.steps.files.steps import (
    copy,
    delete,
    exists,
    list_files,
    move,
    read_text,
    wait_for_file,
    write_text,
)

__all__ = ["copy", "delete", "exists", "list_files", "move", "read_text", "unzip",
           "wait_for_file", "write_text", "zip_files"]
