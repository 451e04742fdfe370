"""Sphinx extension: write each inline <script> once per page.

Sphinx 7.4 keeps two copies of an inline script that an extension adds while the
build is running (one with filename None, one with ""), so sphinx-thebe's
``const THEBE_JS_URL = ...`` appears twice and the second copy is a console error
("Identifier 'THEBE_JS_URL' has already been declared"). This drops the copies.
"""

from __future__ import annotations

from typing import Any


def _dedupe(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (getattr(script, "filename", script) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def setup(app: Any) -> dict:
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
