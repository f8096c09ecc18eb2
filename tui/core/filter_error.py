"""The error of a prune filter (or another command-line selection) that cannot be used.

Its own module, re-exported by :mod:`tui.core.filters`: the commands catch it, and ``images``
(which parses no filter) then does not import the filter parser, its dates and its expressions.
"""

from __future__ import annotations


class FilterError(ValueError):
    """A prune filter the engine would reject; the message names the accepted forms."""
