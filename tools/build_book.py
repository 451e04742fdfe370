"""`jupyter-book`, but with Sphinx's colours only on a terminal.

Jupyter Book 1 drives Sphinx without Sphinx's own check, so its log carries
colour codes into files and CI logs. Usage is that of `jupyter-book`.
"""

import sys

from jupyter_book import utils
from sphinx.util import console

if not console.color_terminal():
    console.nocolor()                                   # Sphinx's log
    utils._color_message = lambda message, style: message   # Jupyter Book's boxes

from jupyter_book.cli.main import main  # noqa: E402  (after the colours are set)

sys.exit(main())
