"""The root of every error sitewatch raises on purpose.

Each error's message names what is wrong and where: a configuration field path, a camera, a
model file, a request field, a ledger. Every error class of the project derives from
``SitewatchError`` (and, where callers expect it, from the built-in it refines: ``ValueError``
for bad input, ``LookupError`` for what is not there, ``OSError`` for the disk), so one
``except SitewatchError`` catches every foreseen failure and lets programming errors through.
``tests/test_errors.py`` keeps it so.
"""

from __future__ import annotations


class SitewatchError(Exception):
    """A failure sitewatch foresaw; the message says what and where."""
