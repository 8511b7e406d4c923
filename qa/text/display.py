"""Text made safe to print on a terminal: what would act on the terminal becomes visible.

An article, a path or a server's reply can hold characters that a terminal obeys
instead of showing: C0 and C1 control characters (ESC starts sequences that
retitle the window, hide text, move the cursor or write hyperlinks; CR and
backspace overwrite what was printed) and the bidirectional embeddings,
overrides and isolates that reorder the text after them ("Trojan Source").
Everything qa prints for a person goes through :func:`visible`, which writes
each such character as an escape (``\\x1b``, ``\\u202e``); ``--json`` output
keeps the exact text, JSON-escaped (:func:`json_safe`).
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls; bidi embeddings/overrides (U+202A-U+202E) and isolates
# (U+2066-U+2069).  Newline and tab are C0 too: kept only where a block of text may
# have lines (``keep_lines``), escaped in one-line fields such as errors and titles.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
UNSAFE_IN_BLOCK = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What json.dumps(ensure_ascii=False) leaves raw although a terminal acts on it.
UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, keep_lines: bool = False) -> str:
    """``text`` with every control and bidi-control character written as an escape.

    ``keep_lines`` keeps newlines and tabs (the body of an article or answer)."""
    return (UNSAFE_IN_BLOCK if keep_lines else UNSAFE).sub(_escape, text)


def json_safe(dumped: str) -> str:
    """JSON text (from ``json.dumps(..., ensure_ascii=False)``) with the characters it
    leaves raw but a terminal acts on written as ``\\uXXXX``: it parses to the same
    values.  Those characters can only occur inside strings, so this is exact."""
    return UNSAFE_IN_JSON.sub(lambda match: f"\\u{ord(match.group()):04x}", dumped)
