"""A class whose constructor has a visible side effect, for deserialization attacks.

A crafted checkpoint names this class; if loading the checkpoint ever
constructs it, the marker file named by ``SECURITY_TEST_MARKER`` appears.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


class Boom:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        marker = os.environ.get("SECURITY_TEST_MARKER")
        if marker:
            Path(marker).write_text("constructed")


def boom(*args: Any, **kwargs: Any) -> None:
    Boom()
