"""The two images of a search, checked and prepared: the needle (with its mask) and the
(part of the) screen searched, with its pyramid levels. Also reading image files."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from libs.steps.vision.box import Box
from libs.steps.vision.scoring import MIN_MASK_PIXELS, as_u8, shrink, smooth

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from libs.steps.vision.box import Image


class ImageMatchError(ValueError):
    """A search that cannot be run as asked: the message says why, in the user's terms."""


def load_image(path: Path) -> Image:
    """Read a PNG/JPEG/BMP file as a BGR image; with transparent pixels, as BGRA.

    Reads through numpy (`cv2.imread` fails on non-ASCII paths such as ``确定按钮.png``). A
    file whose alpha channel is fully opaque is returned as plain BGR; one with transparent
    pixels keeps its alpha channel, which `find_image` uses as a mask.
    """
    import cv2
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise ImageMatchError(f"image file {path} does not exist")
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise ImageMatchError(f"image file {path} is empty")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ImageMatchError(f"cannot read image file {path}: not a PNG, JPEG or BMP image")
    return as_bgr_or_bgra(image)


def as_bgr_or_bgra(image: NDArray[np.generic]) -> Image:
    import cv2
    import numpy as np

    if image.dtype == np.uint16:  # 16-bit PNG
        image = (image // 257).astype(np.uint8)
    if image.ndim == 2:
        return as_u8(cv2.cvtColor(as_u8(image), cv2.COLOR_GRAY2BGR))
    if image.shape[2] == 4 and int(image[:, :, 3].min()) == 255:  # opaque: plain BGR
        return as_u8(np.ascontiguousarray(image[:, :, :3]))
    return as_u8(image)


@dataclass
class Needle:
    colour: Image                        # BGR
    grey: NDArray[np.uint8]
    mask: NDArray[np.uint8] | None       # 255 where a pixel counts, or None: all count
    digest: str
    in_colour: bool = True               # False for a greyscale needle: no colour check

    @property
    def width(self) -> int:
        return int(self.grey.shape[1])

    @property
    def height(self) -> int:
        return int(self.grey.shape[0])

    def size_at(self, scale: float) -> tuple[int, int]:
        return max(1, round(self.width * scale)), max(1, round(self.height * scale))

    def resized(self, width: int, height: int) -> tuple[Image, NDArray[np.uint8],
                                                          NDArray[np.uint8] | None]:
        """Colour, grey and mask at this size (area averaging when shrinking)."""
        import cv2

        if (width, height) == (self.width, self.height):
            return self.colour, self.grey, self.mask
        shrink = width < self.width
        method = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
        colour = cv2.resize(self.colour, (width, height), interpolation=method)
        grey = cv2.resize(self.grey, (width, height), interpolation=method)
        mask = None
        if self.mask is not None:
            mask = cv2.resize(self.mask, (width, height), interpolation=cv2.INTER_NEAREST)
        return as_u8(colour), as_u8(grey), None if mask is None else as_u8(mask)


def prepare_needle(needle: Image) -> Needle:
    import cv2
    import numpy as np

    check_image(needle, "the image to find")
    image = as_bgr_or_bgra(needle)
    mask = None
    if image.shape[2] == 4:
        mask = np.where(image[:, :, 3] >= 128, 255, 0).astype(np.uint8)
        if int(np.count_nonzero(mask)) < MIN_MASK_PIXELS:
            raise ImageMatchError("the image to find is (almost) fully transparent: "
                                  "nothing is left to match")
        # transparent pixels take the icon's mean colour: resizing and shrinking then blend
        # edges with that, not with whatever colour the file kept under alpha 0
        image = np.ascontiguousarray(image[:, :, :3])
        image[mask == 0] = image[mask > 0].mean(axis=0).round().astype(np.uint8)
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    counted = grey if mask is None else grey[mask > 0]
    if float(counted.std()) < 1.0:
        if mask is not None:  # a one-colour glyph on transparency: its shape is all alpha
            raise ImageMatchError(
                "the visible pixels of the image to find are one flat colour: its shape is "
                "only in its transparency, which cannot be matched (capture it with the "
                "background it sits on, without transparency)")
        raise ImageMatchError("the image to find is one flat colour: it has no shape to match "
                              "(capture it with some of its border or text)")
    digest = hashlib.blake2b(image.tobytes(), digest_size=16)
    digest.update(repr(image.shape).encode())
    if mask is not None:
        digest.update(mask.tobytes())
    return Needle(as_u8(image), as_u8(grey), mask, digest.hexdigest(),
                  in_colour=needle.ndim == 3)


def check_image(image: object, what: str) -> None:
    import numpy as np

    if not isinstance(image, np.ndarray):
        raise ImageMatchError(f"{what} is not an image (got {type(image).__name__})")
    if image.size == 0:
        raise ImageMatchError(f"{what} is empty (0×0 pixels)")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ImageMatchError(f"{what} is not a BGR image (array of shape {image.shape})")
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageMatchError(f"{what} is not an 8-bit image (dtype {image.dtype})")


class Screen:
    """The searched part of the screen: colour, grey, and grey levels shrunk by 2 and 4."""

    def __init__(self, screen: Image, region: Box | None) -> None:
        import cv2
        import numpy as np

        check_image(screen, "the screen")
        if screen.ndim == 2:
            screen = as_u8(cv2.cvtColor(screen, cv2.COLOR_GRAY2BGR))
        height, width = screen.shape[:2]
        self.size = (int(width), int(height))
        if region is None:
            self.origin = (0, 0)
            part = screen
        else:
            inside = region.clipped(width, height)
            if not inside.width or not inside.height:
                raise ImageMatchError(
                    f"the region {describe_box(region)} lies outside the screen "
                    f"({width}×{height})")
            self.origin = (inside.x, inside.y)
            part = inside.crop(screen)
        self.region = region
        # no copy of the colour pixels: only found patches are compared in colour. An mss
        # grab is BGRA and stays so (a numpy copy of grab[:, :, :3] took 40 ms at 1920×1080)
        if part.strides[-1] != 1 or part.strides[-2] != part.shape[2]:
            part = np.ascontiguousarray(part)  # OpenCV wants packed pixels (rows may stride)
        self._colour = part
        code = cv2.COLOR_BGRA2GRAY if part.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        self.grey = as_u8(cv2.cvtColor(part, code))
        self._levels: dict[int, NDArray[np.uint8]] = {1: self.grey}
        self._smooth: NDArray[np.uint8] | None = None

    def patch(self, x: int, y: int, width: int, height: int) -> Image:
        """The BGR pixels of a box of the searched part (its own coordinates)."""
        return self._colour[y:y + height, x:x + width, :3]

    @property
    def width(self) -> int:
        return int(self.grey.shape[1])

    @property
    def height(self) -> int:
        return int(self.grey.shape[0])

    def level(self, factor: int) -> NDArray[np.uint8]:
        """The grey screen shrunk `factor` (2 or 4) times, made once (see shrink)."""
        if factor not in self._levels:
            self._levels[factor] = shrink(self.level(factor // 2), 2)
        return self._levels[factor]

    @property
    def smooth(self) -> NDArray[np.uint8]:
        """The grey screen, lightly smoothed (made once): what full-size scores compare."""
        if self._smooth is None:
            self._smooth = smooth(self.grey)
        return self._smooth

    def describe(self) -> str:
        if self.region is None:
            return f"the screen ({self.width}×{self.height})"
        return f"the region {describe_box(self.region)}"


def describe_box(box: Box) -> str:
    return f"{box.width}×{box.height} at ({box.x}, {box.y})"
