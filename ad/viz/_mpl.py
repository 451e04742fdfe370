"""matplotlib, imported when a picture is first drawn (``import ad.viz`` does not import it)."""

from __future__ import annotations

from typing import Any

INSTALL = "pip install 'sixteen-ad[viz]'"


def pyplot() -> Any:
    """``matplotlib.pyplot``; without matplotlib, an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] != "matplotlib":
            raise                   # matplotlib is there but something it needs is not
        raise ImportError(f"ad.viz draws with matplotlib, which is not installed: {INSTALL}") from error
    return plt
