"""Keep invalid UTF-8 typed at the keyboard from crashing the app.

Textual's Linux driver decodes stdin with a strict incremental UTF-8 decoder
in its input thread (textual issue #6456): one stray byte such as ``\\xff``
raises UnicodeDecodeError there and the app dies. We swap the decoder factory
the driver module looks up for one that uses ``errors="replace"``, so the
byte arrives as U+FFFD instead. Applied by ``run_app``, never at import.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from typing import Any


def _replacing_decoder_factory(encoding: str) -> Callable[..., codecs.IncrementalDecoder]:
    cls = codecs.getincrementaldecoder(encoding)

    def make(errors: str = "replace", **kwargs: Any) -> codecs.IncrementalDecoder:
        return cls(errors="replace", **kwargs)

    return make


def install() -> bool:
    """Patch the Linux driver; False when the driver is not importable (Windows)."""
    try:
        from textual.drivers import linux_driver
    except ImportError:  # pragma: no cover - non-POSIX platforms
        return False
    linux_driver.getincrementaldecoder = _replacing_decoder_factory  # type: ignore[attr-defined,assignment]
    return True
