"""find_image / load_image / detect_scale on synthetic screens (drawn with PIL at each scale)
and on a real X screen (a Tk window under Xvfb, grabbed with mss)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
import pytest

from libs import xvfb
from libs.steps.vision.box import Box
from libs.steps.vision.match import (
    ImageMatchError,
    Match,
    detect_scale,
    find_image,
    forget_scales,
    load_image,
)
from tests.display import screen  # noqa: F401
from tests.libs.steps.vision.drawing import RED, draw_icon, draw_screen

if TYPE_CHECKING:
    from libs.steps.vision.box import Image

ROOT = Path(__file__).resolve().parents[4]


@pytest.fixture(autouse=True)
def fresh_scales() -> Iterator[None]:
    forget_scales()
    yield
    forget_scales()


@pytest.fixture(scope="module")
def desktop() -> Image:
    return draw_screen(1.0).image


def needle_of(name: str) -> Image:
    drawn = draw_screen(1.0)
    return drawn.boxes[name].crop(drawn.image).copy()


def near(found: Box, expected: Box, pixels: int) -> bool:
    """Centres within `pixels`, sizes within 3 %: a screen drawn at another scale renders text
    and 1-px borders afresh, so the best fit can be a pixel off the drawn box."""
    (fx, fy), (ex, ey) = found.center, expected.center
    return (abs(fx - ex) <= pixels and abs(fy - ey) <= pixels
            and abs(found.width - expected.width) <= 0.03 * expected.width + 1
            and abs(found.height - expected.height) <= 0.03 * expected.height + 1)


# --------------------------------------------------------------------------- positions

def test_buttons_with_chinese_text_are_found_at_their_exact_positions(desktop: Image) -> None:
    drawn = draw_screen(1.0)
    for name in ("确定", "取消"):
        found = find_image(desktop, needle_of(name))
        assert [match.box for match in found] == [drawn.boxes[name]]
        assert found[0].score > 0.99 and found[0].scale == 1.0


def test_the_window_moved_the_match_moves_with_it() -> None:
    moved = draw_screen(1.0, window_at=(701, 333))
    found = find_image(moved.image, needle_of("确定"))
    assert [match.box for match in found] == [moved.boxes["确定"]]


def test_confirm_and_cancel_are_told_apart(desktop: Image) -> None:
    cancel = draw_screen(1.0).boxes["取消"]
    found = find_image(desktop, needle_of("取消"), find_all=True)
    assert [match.box for match in found] == [cancel]


def test_nothing_reaches_confidence_gives_an_empty_list(desktop: Image) -> None:
    stranger = np.full((40, 120, 3), 255, np.uint8)
    cv2.putText(stranger, "OK?", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 0, 0), 2)
    assert find_image(desktop, stranger) == []


# --------------------------------------------------------------------------- scales

@pytest.mark.parametrize("scale", [1.25, 0.8, 1.5])
def test_a_screen_drawn_at_another_scale_is_searched_at_that_scale(scale: float) -> None:
    drawn = draw_screen(scale)
    found = find_image(drawn.image, needle_of("确定"))
    assert len(found) == 1
    assert near(found[0].box, drawn.boxes["确定"], 2), (found, drawn.boxes["确定"])
    assert abs(found[0].scale - scale) <= 0.03 * scale
    assert found[0].score >= 0.9


def test_the_scale_found_is_exact_on_a_resized_screenshot() -> None:
    # the button at coordinates divisible by 4 lands on whole pixels at 125 % (820 → 1025)
    drawn = draw_screen(1.0, window_at=(300, 202))
    enlarged = cv2.resize(drawn.image, None, fx=1.25, fy=1.25, interpolation=cv2.INTER_CUBIC)
    expected = drawn.boxes["确定"]
    found = find_image(enlarged, needle_of("确定"))
    assert len(found) == 1 and abs(found[0].scale - 1.25) < 0.006
    assert found[0].score > 0.97
    assert found[0].box == Box(expected.x * 5 // 4, expected.y * 5 // 4, 150, 50)


def test_detect_scale_and_the_remembered_scale() -> None:
    drawn = draw_screen(1.25)
    needle = needle_of("确定")
    scale = detect_scale(drawn.image, needle)
    assert scale is not None and abs(scale - 1.25) <= 0.03
    # remembered: the next search is one search at that scale and finds the same box
    first = find_image(drawn.image, needle)
    assert first and first[0].scale == scale
    # another needle on the same screen size tries that scale before any sweep
    cancel = find_image(drawn.image, needle_of("取消"))
    assert cancel and near(cancel[0].box, drawn.boxes["取消"], 2)
    assert detect_scale(draw_screen(1.0).image, np.ascontiguousarray(needle[:, ::-1])) is None


def test_a_remembered_scale_is_a_hint_not_a_rule() -> None:
    # on X11 each application scales itself: the same button can be at 125 % in one window
    # and 100 % in the next, on one screen size
    needle = needle_of("确定")
    assert find_image(draw_screen(1.25).image, needle)[0].scale != 1.0
    plain = draw_screen(1.0)
    found = find_image(plain.image, needle)
    assert [(match.box, match.scale) for match in found] == [(plain.boxes["确定"], 1.0)]


def test_a_bgra_grab_is_searched_as_it_comes(desktop: Image) -> None:
    bgra = cv2.cvtColor(desktop, cv2.COLOR_BGR2BGRA)  # what mss returns
    found = find_image(bgra, needle_of("确定"))
    assert [match.box for match in found] == [draw_screen(1.0).boxes["确定"]]


def test_given_scales_are_the_only_ones_searched() -> None:
    drawn = draw_screen(1.25)
    needle = needle_of("确定")
    assert find_image(drawn.image, needle, scales=[1.0]) == []
    found = find_image(drawn.image, needle, scales=[1.0, 1.25])
    assert len(found) == 1 and found[0].scale == 1.25
    assert near(found[0].box, drawn.boxes["确定"], 2)


# --------------------------------------------------------------------------- colour, region, all

def test_a_button_of_another_colour_is_rejected(desktop: Image) -> None:
    drawn = draw_screen(1.0)
    red = needle_of("red")
    found = find_image(desktop, red, find_all=True)
    assert [match.box for match in found] == [drawn.boxes["red"]]  # not the green twin
    # greyscale alone cannot tell them apart: the same shape scores ~1 on both
    grey_only = find_image(desktop, red, find_all=True, colour=False, confidence=0.8)
    assert {match.box for match in grey_only} >= {drawn.boxes["red"], drawn.boxes["green"]}
    repainted = draw_screen(1.0, confirm_fill=RED).image
    assert find_image(repainted, needle_of("确定")) == []
    assert find_image(repainted, needle_of("确定"), colour=False, confidence=0.8) != []


def test_a_greyscale_needle_matches_a_colour_screen(desktop: Image) -> None:
    grey = cv2.cvtColor(needle_of("确定"), cv2.COLOR_BGR2GRAY)
    found = find_image(desktop, grey)
    assert [match.box for match in found] == [draw_screen(1.0).boxes["确定"]]


def test_the_region_is_honoured_and_boxes_stay_in_screen_coordinates(desktop: Image) -> None:
    confirm = draw_screen(1.0).boxes["确定"]
    needle = needle_of("确定")
    around = Box(confirm.x - 30, confirm.y - 20, 200, 90)
    found = find_image(desktop, needle, region=around)
    assert [match.box for match in found] == [confirm]
    elsewhere = Box(0, 0, 800, 600)
    assert find_image(desktop, needle, region=elsewhere) == []
    exact = find_image(desktop, needle, region=confirm)  # a region just the needle's size
    assert [match.box for match in exact] == [confirm]


def test_find_all_returns_every_repeated_icon_best_first(desktop: Image) -> None:
    icons = draw_screen(1.0).icons
    icon = icons[2].crop(desktop).copy()
    found = find_image(desktop, icon, find_all=True)
    assert sorted((match.box for match in found), key=lambda box: box.x) == icons
    assert [match.score for match in found] == sorted((m.score for m in found), reverse=True)
    assert len(find_image(desktop, icon)) == 1


def test_a_needle_with_a_transparent_background_matches_on_any_background(
        tmp_path: Path) -> None:
    from PIL import Image as PILImage
    from PIL import ImageDraw

    picture = PILImage.new("RGBA", (40, 40), (0, 0, 0, 0))  # transparent around the icon
    draw_icon(ImageDraw.Draw(picture), 4, 4, 1.0)
    path = tmp_path / "齿轮图标.png"
    picture.save(path)
    needle = load_image(path)
    assert needle.shape == (40, 40, 4)
    drawn = draw_screen(1.0)
    found = find_image(drawn.image, needle, find_all=True)
    # the toolbar's icons sit on the window's light grey; the needle's corners were transparent
    expected = [Box(icon.x - 4, icon.y - 4, 40, 40) for icon in drawn.icons]
    assert sorted((match.box for match in found), key=lambda box: box.x) == expected


def test_matches_on_a_shifted_grid_and_noise() -> None:
    drawn = draw_screen(1.0, window_at=(333, 217), seed=11)
    noisy = drawn.image.astype(np.int16)
    noisy += np.random.default_rng(3).integers(-6, 7, noisy.shape, dtype=np.int16)
    found = find_image(np.clip(noisy, 0, 255).astype(np.uint8), needle_of("取消"))
    assert [match.box for match in found] == [drawn.boxes["取消"]]


# --------------------------------------------------------------------------- files and errors

def test_chinese_file_names_load_png_and_jpeg(tmp_path: Path) -> None:
    needle = needle_of("确定")
    png, jpeg = tmp_path / "确定按钮.png", tmp_path / "取消 按钮.jpg"
    cv2.imencode(".png", needle)[1].tofile(png)
    cv2.imencode(".jpg", needle, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tofile(jpeg)
    assert np.array_equal(load_image(png), needle)
    loaded = load_image(jpeg)
    assert loaded.shape == needle.shape
    found = find_image(draw_screen(1.0).image, loaded)
    assert [match.box for match in found] == [draw_screen(1.0).boxes["确定"]]


def test_errors_say_what_is_wrong(tmp_path: Path, desktop: Image) -> None:
    with pytest.raises(ImageMatchError, match="does not exist"):
        load_image(tmp_path / "没有.png")
    (tmp_path / "坏.png").write_bytes(b"not a picture")
    with pytest.raises(ImageMatchError, match=r"cannot read image file .*坏\.png"):
        load_image(tmp_path / "坏.png")
    (tmp_path / "空.png").write_bytes(b"")
    with pytest.raises(ImageMatchError, match="is empty"):
        load_image(tmp_path / "空.png")
    needle = needle_of("确定")
    with pytest.raises(ImageMatchError, match=r"\(120×40\) is larger than the region 100×30"):
        find_image(desktop, needle, region=Box(10, 10, 100, 30))
    with pytest.raises(ImageMatchError, match="lies outside the screen"):
        find_image(desktop, needle, region=Box(5000, 10, 100, 30))
    with pytest.raises(ImageMatchError, match="the image to find is empty"):
        find_image(desktop, np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ImageMatchError, match="the screen is empty"):
        find_image(np.zeros((0, 5, 3), np.uint8), needle)
    with pytest.raises(ImageMatchError, match="one flat colour"):
        find_image(desktop, np.full((20, 20, 3), 200, np.uint8))
    glyph = np.zeros((20, 20, 4), np.uint8)
    cv2.circle(glyph, (10, 10), 6, (0, 0, 0, 255), -1)  # a black dot on transparency
    with pytest.raises(ImageMatchError, match="its shape is only in its transparency"):
        find_image(desktop, glyph)
    with pytest.raises(ImageMatchError, match="fully transparent"):
        find_image(desktop, np.zeros((20, 20, 4), np.uint8))
    with pytest.raises(ImageMatchError, match="confidence"):
        find_image(desktop, needle, confidence=90)


def test_importing_the_module_loads_no_opencv() -> None:
    code = ("import sys, libs.steps.vision.match, libs.steps.vision.images, "
            "libs.steps.vision.scoring; "
            "print(sorted(m for m in ('cv2', 'mss', 'Xlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- a real X screen

TK_WINDOW = textwrap.dedent("""
    import json, sys, tkinter
    root = tkinter.Tk()
    root.geometry("360x200+120+90")
    root.configure(background="#eef1f4")
    tkinter.Label(root, text="对公账户年检", font=("Noto Sans CJK SC", 14),
                  background="#eef1f4").pack(pady=12)
    button = tkinter.Button(root, text="确定", font=("Noto Sans CJK SC", 13),
                            background="#2ea043", foreground="white", padx=18)
    button.pack(pady=20)

    def report():
        root.update()
        print(json.dumps([button.winfo_rootx(), button.winfo_rooty(),
                          button.winfo_width(), button.winfo_height()]), flush=True)

    def serve():
        line = sys.stdin.readline().split()
        if not line:
            root.destroy()
            return
        root.geometry(f"+{line[0]}+{line[1]}")
        root.after(300, lambda: (report(), root.after(10, serve)))

    root.after(300, lambda: (report(), root.after(10, serve)))
    root.mainloop()
""")


def grab(display: xvfb.VirtualScreen) -> Image:
    """The whole screen (region grabs raise X errors on Xvfb: crop a full grab instead)."""
    import mss

    with mss.MSS(display=display.display) as shooter:
        shot = shooter.grab(shooter.monitors[0])
    bgra = np.frombuffer(shot.raw, np.uint8).reshape(shot.height, shot.width, 4)
    return cv2.cvtColor(bgra, cv2.COLOR_BGRA2BGR)


def test_a_tk_button_cut_from_one_grab_is_found_after_the_window_moved(
        screen: xvfb.VirtualScreen, tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in screen.env().items():
        monkeypatch.setenv(name, value)
    window = subprocess.Popen([sys.executable, "-c", TK_WINDOW], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={**os.environ})
    assert window.stdin is not None and window.stdout is not None
    try:
        x, y, width, height = json.loads(window.stdout.readline())
        before = grab(screen)
        needle = Box(x, y, width, height).crop(before).copy()
        cv2.imencode(".png", needle)[1].tofile(tmp_path / "确定.png")
        window.stdin.write("900 600\n")
        window.stdin.flush()
        moved = Box(*json.loads(window.stdout.readline()))
        assert (moved.x, moved.y) != (x, y)
        found = find_image(grab(screen), load_image(tmp_path / "确定.png"))
        assert found == [Match(moved, found[0].score, 1.0)]
        assert found[0].score > 0.99
    finally:
        window.stdin.close()
        window.wait(10)
