"""Make untrusted text safe to show in a terminal.

Every piece of text that came from a person, a model or storage goes through
:func:`to_display` before it reaches the screen. Textual passes escape
sequences through to the terminal even with ``markup=False`` (OSC 52 clipboard
writes, window titles, OSC 8 links, ``ESC[2J``), so all C0/C1 control
characters are replaced by visible symbols here; newlines and tabs survive.

Text leaving the app (printed, or copied through OSC 52) goes through
:func:`to_terminal`; passwords in URLs and DSNs that could be shown go
through :func:`redact_secrets`.
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from typing import Any, TextIO

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


def to_terminal(text: str) -> str:
    """Text leaving the app for a terminal or the clipboard, made harmless.

    The one exit for printed output and copied text. Like :func:`to_display`
    (what is copied is what was shown), and a lone CR becomes a newline: a CR
    would let text overwrite its own line, and pasted into a shell it acts as
    Enter. The result holds no C0/C1 control, DEL or ESC, only newline and
    tab, so ``ESC[201~`` cannot end a bracketed paste early and no OSC 52,
    title or cursor sequence reaches the terminal.
    """
    return to_display(text.replace("\r\n", "\n").replace("\r", "\n"))


def echo(text: str, *, file: TextIO | None = None, end: str = "\n", flush: bool = False) -> None:
    """Print ``text`` through :func:`to_terminal` (stdout unless ``file``)."""
    out = file if file is not None else sys.stdout
    out.write(to_terminal(text) + end)
    if flush:
        out.flush()


# Inside JSON strings these are written as \uXXXX escapes: the same data, no
# live control or bidi character on a terminal that shows the JSON.
_JSON_UNSAFE = re.compile(
    r"[\x7f\x80-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]"
)


def json_for_terminal(data: Any) -> str:
    """``data`` as indented JSON that is exact and safe to print.

    ``json.dumps`` escapes C0 controls itself; DEL, C1, bidi controls and
    lone surrogates are escaped here. They occur only inside strings, so the
    result parses back to exactly ``data``.
    """
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


_URL_AUTHORITY = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/?#\s]*)")
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:[a-z0-9_.-]*(?:password|passwd|pwd|secret|token|key)[a-z0-9_.-]*)=)[^&#\s]*"
)
# libpq keyword DSNs: password=secret, password = 'it\'s', sslpassword=...
_KEYWORD_PASSWORD = re.compile(
    r"(?i)(?<![\w.?&;-])((?:ssl)?password\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|[^\s'][^\s]*)"
)
REDACTED = "***"


def _authority(match: re.Match[str]) -> str:
    scheme, authority = match.group(1), match.group(2)
    userinfo, at, host = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return match.group(0)
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{user}:{REDACTED}@{host}"


def redact_secrets(text: str) -> str:
    """``text`` with the passwords and keys of any URL or DSN in it replaced.

    ``scheme://user:password@host`` -> ``scheme://user:***@host``; query
    parameters named like a password, key, token or secret, and libpq's
    ``password=`` keyword, keep their name and lose their value. Used for
    every setting shown and every error or diagnostic line that may quote one.
    """
    text = _URL_AUTHORITY.sub(_authority, text)
    text = _SECRET_PARAM.sub(lambda m: m.group(1) + REDACTED, text)
    return _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + REDACTED, text)


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
