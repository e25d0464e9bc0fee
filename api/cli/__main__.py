"""``python -m api.cli``: the same as the ``jishibang`` command."""

from api.cli import main

main()
