"""Make untrusted text safe to show in a terminal.

Every piece of text that came from a person, a model or storage goes through
:func:`to_display` before it reaches the screen. Textual passes escape
sequences through to the terminal even with ``markup=False`` (OSC 52 clipboard
writes, window titles, OSC 8 links, ``ESC[2J``), so all C0/C1 control
characters are replaced by visible symbols here; newlines and tabs survive.
"""

from __future__ import annotations

import re
import unicodedata

# C0 (except \t and \n), DEL, C1; shown as Unicode "control pictures" or U+FFFD.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]")
# Bidi overrides/isolates can reorder what the person sees; show them as codes.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _picture(match: re.Match[str]) -> str:
    ch = match.group(0)
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # ␀ ... ␟
    if code == 0x7F:
        return "\u2421"  # ␡
    return "\ufffd"


def _bidi(match: re.Match[str]) -> str:
    return f"<U+{ord(match.group(0)):04X}>"


def clean_input(text: str) -> str:
    """Normalise text at the boundary, before it is stored.

    Lone surrogates would be silently turned into '?' by the serializer; they
    become U+FFFD here instead, so what is stored is what was shown.
    """
    text = _SURROGATE.sub("\ufffd", text)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def to_display(text: str, *, single_line: bool = False) -> str:
    """Text with every control character made visible; never markup."""
    text = _SURROGATE.sub("\ufffd", text)
    if single_line:
        text = text.replace("\r\n", " ").replace("\n", " ").replace("\t", " ")
    else:
        text = text.replace("\r\n", "\n")
    text = _CONTROL.sub(_picture, text)
    return _BIDI.sub(_bidi, text)


def one_line(text: str, limit: int = 80) -> str:
    """A short single-line preview of ``text`` for lists and titles."""
    flat = " ".join(to_display(text, single_line=True).split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat


def is_blank(text: str) -> bool:
    return not any(
        not ch.isspace() and unicodedata.category(ch) not in ("Cf", "Cc", "Zs") for ch in text
    )
