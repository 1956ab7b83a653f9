"""rich's console for bench's printed tables and summaries, right on and off a terminal: on a terminal it fits
the terminal's width (with colour); in a pipe, a file or a CI log a line is never wrapped or cut, and a table
is as wide as its content, so that `bench list | grep` and `bench parse LOG > out.txt` get whole lines."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

# Off a terminal: wide enough that no table column is cut and no line wraps (a longer line soft-wraps whole).
UNWRAPPED_WIDTH = 10_000


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    on_terminal = Console(stderr=stderr)
    if on_terminal.is_terminal:
        return on_terminal
    return Console(stderr=stderr, width=UNWRAPPED_WIDTH, soft_wrap=True, highlight=False)
