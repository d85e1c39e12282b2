"""Free text written by people (case notes, owners): what may go into events, MQTT payloads and
the audit trail, so that it stays safe to show in a console, a terminal or a log.

Refused: control characters (NUL, ESC and the other C0 and C1 controls, DEL) except the tab and
line breaks, the bidirectional embedding, override and isolate controls (they reorder how text
around them is displayed: "Trojan Source") and lone surrogates (not characters at all). Line
breaks are kept in multi-line text, each written as one ``\\n`` (CR LF, a lone CR, NEL and the
Unicode line and paragraph separators alike), and refused in one-line text.
"""

from __future__ import annotations

import re
import unicodedata

from core.errors import SitewatchError

LINE_BREAKS = re.compile("\r\n|[\r\x85\u2028\u2029]")
BIDI_CONTROLS = frozenset({"LRE", "RLE", "PDF", "LRO", "RLO", "LRI", "RLI", "FSI", "PDI"})
CONTROL_NAMES = {"\0": "NUL", "\x07": "BEL", "\x08": "BACKSPACE", "\x1b": "ESC", "\x7f": "DEL"}


class UnsafeTextError(SitewatchError, ValueError):
    """Text holding a character that is refused (the message says which and where)."""


def _refused(char: str, multiline: bool) -> str | None:
    """Why ``char`` is refused, None when it is accepted."""
    category = unicodedata.category(char)
    if char == "\n":
        return None if multiline else "a line break (this field is one line)"
    if char == "\t":
        return None
    if category == "Cc":
        return f"U+{ord(char):04X} ({CONTROL_NAMES.get(char, 'a control character')})"
    if category == "Cs":
        return f"U+{ord(char):04X} (a lone surrogate, not a character)"
    if unicodedata.bidirectional(char) in BIDI_CONTROLS:
        return f"U+{ord(char):04X} ({unicodedata.name(char).lower()}, a bidirectional control)"
    return None


def safe_text(text: str, *, multiline: bool) -> str:
    """``text`` with its line breaks written as ``\\n``, or UnsafeTextError naming the first
    refused character and its position (1-based)."""
    cleaned = LINE_BREAKS.sub("\n", text)
    for position, char in enumerate(cleaned, start=1):
        reason = _refused(char, multiline)
        if reason is not None:
            raise UnsafeTextError(
                f"contains {reason} at character {position}; control characters, "
                "bidirectional controls and lone surrogates are not accepted"
            )
    return cleaned
