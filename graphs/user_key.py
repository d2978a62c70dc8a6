"""A user id as one label of a store namespace (or of a key), and back.

LangGraph's stores keep a namespace as its labels joined with ``.``: a label
may contain no ``.`` (nor NUL), and ``*`` is a wildcard when namespaces are
matched. A user id is whatever a person is called: ``john.doe``,
``alice@example.com``, ``Zoë Ng``. :func:`user_label` percent-encodes only
the characters that would be misread (``%`` included, so that the encoding is
reversible and two ids never share a label; ``:`` too, the separator of the
session keys) and keeps every other character, so an ordinary id reads as
itself in the database.

Nothing needs migrating: the ids an older version could keep a profile
under (letters, digits, ``_``, ``-``, ``@``; one with a dot failed on every
write) have none of these characters and encode to themselves.
"""

from __future__ import annotations

import re

_ESCAPED = {c: f"%{ord(c):02X}" for c in "%.*:\x00"}
_ESCAPE = re.compile("[" + re.escape("".join(_ESCAPED)) + "]")
_UNESCAPE = re.compile("%(" + "|".join(code[1:] for code in _ESCAPED.values()) + ")")


def user_label(user_id: str) -> str:
    """The id as a namespace label: readable, injective, never empty for a non-empty id."""
    return _ESCAPE.sub(lambda m: _ESCAPED[m.group()], user_id)


def user_from_label(label: str) -> str:
    """The inverse of :func:`user_label`."""
    return _UNESCAPE.sub(lambda m: chr(int(m.group(1), 16)), label)
