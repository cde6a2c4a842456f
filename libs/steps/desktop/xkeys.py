"""Keys for XTest: key names and characters to keysyms, and a keymap that lends spare keycodes.

XTest presses keycodes, not characters. A character the keyboard layout has (ASCII on a US
layout) is typed with its own keycode, plus Shift when it sits on the shifted level. Any other
character — 张, é under a US layout — is typed by binding its keysym (Unicode keysyms are
0x01000000 | code point; Latin-1 keysyms equal the code point) to a keycode that has no symbols,
pressing that keycode, and giving the keycode back later. That is what makes typing independent
of the layout (xdotool's ``type`` mistypes under non-US layouts; pyautogui drops CJK).

The race in this: an Xlib client applies a keymap change when it reads the MappingNotify off
its socket, not when it reaches that event in its queue, so key events it has not handled yet
can be looked up in a newer map — and nothing in X says when a client has handled a key.
Measured under Xvfb with Tk 8.6: rebinding 19 keycodes 50 ms after typing them turned 18 of the
next batch's 19 characters into the old ones; fresh bindings (keycodes never pressed) pressed
right after the change were now and then read as NoSymbol (50 ms later: 20 of 20 names right);
``xdotool type`` (the same technique, no pause) typed 0 of 5 Chinese addresses right. So the
driver pastes such characters by default, and lends keycodes only for hotkeys and for
``unicode_input="keymap"`` (programs that cannot paste). A lent keycode is rebound or given
back only once it has been idle ``RECYCLE_AFTER_S``, which narrows the race.

Xlib is imported inside the functions that need it: importing this module opens no display.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

RECYCLE_AFTER_S = 1.0  # idle time after which a lent keycode may be rebound or given back
NO_SYMBOL = 0

# Names people write for keys → X keysym names. Anything else is tried as an X keysym name
# (as written, then capitalised: "f5" → "F5", "left" → "Left", "page_up" → "Page_Up").
KEY_ALIASES = {
    "ctrl": "Control_L", "control": "Control_L", "lctrl": "Control_L", "rctrl": "Control_R",
    "alt": "Alt_L", "lalt": "Alt_L", "ralt": "Alt_R", "altgr": "ISO_Level3_Shift",
    "shift": "Shift_L", "lshift": "Shift_L", "rshift": "Shift_R",
    "super": "Super_L", "win": "Super_L", "windows": "Super_L", "cmd": "Super_L",
    "meta": "Meta_L",
    "enter": "Return", "return": "Return", "esc": "Escape", "escape": "Escape", "tab": "Tab",
    "backspace": "BackSpace", "delete": "Delete", "del": "Delete", "insert": "Insert",
    "ins": "Insert", "home": "Home", "end": "End", "pageup": "Prior", "pgup": "Prior",
    "pagedown": "Next", "pgdn": "Next", "up": "Up", "down": "Down", "left": "Left",
    "right": "Right", "space": "space", "menu": "Menu", "capslock": "Caps_Lock",
    "printscreen": "Print", "print": "Print",
}
CHAR_KEYSYMS = {"\n": "Return", "\r": "Return", "\t": "Tab", "\b": "BackSpace"}


def keysym_for_char(char: str) -> int:
    """The keysym that types `char`: Latin-1 keysyms are the code point, others are Unicode."""
    from Xlib import XK

    if char in CHAR_KEYSYMS:
        return int(XK.string_to_keysym(CHAR_KEYSYMS[char]))
    point = ord(char)
    if 0x20 <= point <= 0x7E or 0xA0 <= point <= 0xFF:
        return point
    return 0x01000000 | point


def keysym_for_name(name: str) -> int:
    """The keysym of a key name: ctrl/alt/shift/super, Return, F5, Left, "s", any X keysym name."""
    from Xlib import XK

    if len(name) == 1:
        return keysym_for_char(name)
    for group in ("xf86", "xkb", "latin2", "latin3", "latin4", "publishing", "technical"):
        XK.load_keysym_group(group)  # cheap after the first time: a module import
    alias = KEY_ALIASES.get(name.lower().replace("-", "").replace("_", ""))
    for candidate in (alias, name, name[:1].upper() + name[1:], name.capitalize()):
        if candidate:
            keysym = XK.string_to_keysym(candidate)
            if keysym != NO_SYMBOL:
                return int(keysym)
    raise ValueError(
        f"unknown key {name!r}: write ctrl, alt, shift, super, Return, Tab, Escape, F1…F24, "
        "Left/Right/Up/Down, Home, End, Page_Up, a single character, or any X keysym name")


@dataclass(frozen=True)
class KeyStroke:
    """How to produce one keysym: press `keycode`, with Shift held when `shifted`."""

    keycode: int
    shifted: bool


class Keymap:
    """The display's keyboard mapping, as XTest needs it, with spare keycodes to lend.

    Not thread-safe: one Keymap per Display connection, used from one thread.
    """

    def __init__(self, display: Any) -> None:
        self._display = display
        first = display.display.info.min_keycode
        count = display.display.info.max_keycode - first + 1
        mapping = display.get_keyboard_mapping(first, count)
        self._per_keycode = len(mapping[0]) if mapping else 2
        self._strokes: dict[int, KeyStroke] = {}
        self._spare: list[int] = []
        for offset, symbols in enumerate(mapping):
            keycode = first + offset
            if not any(symbols):
                self._spare.append(keycode)
                continue
            # Levels 0 and 1 only (plain, Shift); AltGr levels differ between layouts, so a
            # character found only there is lent a spare keycode instead.
            for level, keysym in enumerate(list(symbols)[:2]):
                if keysym != NO_SYMBOL and keysym not in self._strokes:
                    self._strokes[keysym] = KeyStroke(keycode, shifted=level == 1)
        self._lent: OrderedDict[int, int] = OrderedDict()  # keysym → spare keycode, LRU first
        self._pressed_at: dict[int, float] = {}  # spare keycode → when it was last pressed
        self.shift_keycode = self._modifier_keycode(0, "Shift_L")

    @property
    def spare_count(self) -> int:
        return len(self._spare)

    def _modifier_keycode(self, index: int, fallback_name: str) -> int:
        mapped = [code for code in self._display.get_modifier_mapping()[index] if code]
        if mapped:
            return int(mapped[0])
        stroke = self._strokes.get(keysym_for_name(fallback_name))
        if stroke is None:
            raise RuntimeError(f"the X keyboard has no {fallback_name} key")
        return stroke.keycode

    def in_layout(self, keysym: int) -> bool:
        """Whether the layout itself has this keysym (on the plain or the Shift level)."""
        return keysym in self._strokes

    def stroke(self, keysym: int) -> KeyStroke:
        """How to type `keysym`, lending it a spare keycode when the layout lacks it."""
        stroke = self._strokes.get(keysym)
        if stroke is not None:
            return stroke
        self.lend([keysym])
        keycode = self._lent[keysym]
        self._lent.move_to_end(keysym)
        self._pressed_at[keycode] = time.monotonic()
        return KeyStroke(keycode, shifted=False)

    def can_lend(self, keysyms: Iterable[int]) -> bool:
        """Whether every keysym the layout lacks can have a keycode now, without rebinding a
        keycode that was pressed in the last RECYCLE_AFTER_S."""
        wanted = {k for k in keysyms if k not in self._strokes}
        missing = [k for k in wanted if k not in self._lent]
        return len(missing) <= len(self._reusable(wanted))

    def _reusable(self, wanted: set[int]) -> list[int]:
        """Keycodes that may take a new keysym: unbound ones, then idle bound ones (LRU first)."""
        now = time.monotonic()
        bound = set(self._lent.values())
        unbound = [code for code in self._spare if code not in bound]
        idle = [code for keysym, code in self._lent.items() if keysym not in wanted
                and now - self._pressed_at.get(code, 0.0) >= RECYCLE_AFTER_S]
        return unbound + idle

    def lend(self, keysyms: Iterable[int]) -> None:
        """Bind every keysym the layout lacks to a spare keycode, in one keymap change."""
        wanted = {k for k in keysyms if k not in self._strokes}
        if not self._spare and wanted:
            raise RuntimeError("the X keyboard has no spare keycode to type these characters")
        missing = [k for k in dict.fromkeys(keysyms) if k in wanted and k not in self._lent]
        reusable = self._reusable(wanted)
        if len(missing) > len(reusable):
            raise RuntimeError(f"{len(missing)} characters need a keycode and only "
                               f"{len(reusable)} spare keycodes are free just now")
        owner = {code: keysym for keysym, code in self._lent.items()}
        changes: dict[int, int] = {}
        for keysym, keycode in zip(missing, reusable, strict=False):
            if keycode in owner:
                del self._lent[owner[keycode]]
            changes[keycode] = keysym
            self._lent[keysym] = keycode
        for keysym in wanted:
            self._lent.move_to_end(keysym)
        self._apply(changes)

    def restore(self) -> None:
        """Give every lent keycode back its original (empty) mapping, once it is idle."""
        if not self._lent:
            return
        last = max(self._pressed_at.get(code, 0.0) for code in self._lent.values())
        wait = last + RECYCLE_AFTER_S - time.monotonic()
        if wait > 0:
            self._display.sync()
            time.sleep(wait)
        self._apply(dict.fromkeys(self._lent.values(), NO_SYMBOL))
        self._lent.clear()

    def _apply(self, changes: dict[int, int]) -> None:
        for keycode, keysym in sorted(changes.items()):
            # The keysym on both levels: it types the same with or without Shift.
            symbols = [keysym, keysym] + [NO_SYMBOL] * (self._per_keycode - 2)
            self._display.change_keyboard_mapping(keycode, [symbols])
        if changes:
            self._display.sync()
