"""Boxes and images, shared by screens (desktop), image matching (vision) and OCR.

Images are numpy arrays, height × width × 3, BGR (OpenCV's order), uint8. numpy is imported
only for type checking here: the step libraries load without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    Image = NDArray[np.uint8]


@dataclass(frozen=True)
class Box:
    """A rectangle on the screen (or in an image): left, top, width, height in pixels."""

    x: int
    y: int
    width: int
    height: int

    @property
    def center(self) -> tuple[int, int]:
        return self.x + self.width // 2, self.y + self.height // 2

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    def contains(self, x: int, y: int) -> bool:
        return self.x <= x < self.right and self.y <= y < self.bottom

    def to_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}

    def clipped(self, width: int, height: int) -> Box:
        """The part of this box inside a width × height image (empty: width or height 0)."""
        x, y = max(self.x, 0), max(self.y, 0)
        return Box(x, y, max(min(self.right, width) - x, 0), max(min(self.bottom, height) - y, 0))

    def crop(self, image: Image) -> Image:
        """This box's pixels of `image` (clipped to the image)."""
        return image[max(self.y, 0):max(self.bottom, 0), max(self.x, 0):max(self.right, 0)]
