"""The API reference (book/api.md) covers every public name of ``ad``."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import ad
import ad.ops

API = Path(__file__).resolve().parent.parent / "book" / "api.md"


def documented() -> tuple[set[str], set[str]]:
    """Names given to autofunction/autoclass, and modules given to automodule."""
    text = API.read_text()
    objects = set(re.findall(r"\.\. auto(?:function|class):: ad\.(\w+)", text))
    modules = set(re.findall(r"\.\. automodule:: (ad(?:\.\w+)?)", text))
    return objects, modules


def covered(name: str, objects: set[str], modules: set[str]) -> bool:
    value = getattr(ad, name)
    if name in objects:
        return True
    if isinstance(value, type(ad)):                 # a submodule: ad.nn, ad.check...
        return value.__name__ in modules
    if getattr(value, "__module__", None) == "ad.ops" or isinstance(value, ad.Function):
        return "ad.ops" in modules                  # an op (its class or function is listed)
    return False


def test_every_public_name_is_on_the_api_page():
    objects, modules = documented()
    missing = [n for n in ad.__all__ if not covered(n, objects, modules)]
    assert not missing, f"not in book/api.md: {missing}"


def test_every_listed_name_exists():
    objects, modules = documented()
    assert not [n for n in objects if not hasattr(ad, n)]
    for module in modules:
        importlib.import_module(module)


def test_every_op_has_its_maths_in_a_docstring():
    ops = [getattr(ad, n) for n in ad.__all__ if isinstance(getattr(ad, n), ad.Function)]
    assert len(ops) > 10
    for op in ops:
        doc = type(op).__doc__ or ""
        assert "=" in doc, type(op).__name__


def test_every_listed_member_has_a_docstring():
    """autodoc drops a listed member without a docstring, silently."""
    text = API.read_text()
    listed = re.findall(r"\.\. autoclass:: ad\.(\w+)\n\s+:members: ([\w, ]+)", text)
    assert listed
    for cls, members in listed:
        for member in (m.strip() for m in members.split(",")):
            attribute = getattr(getattr(ad, cls), member)
            doc = (attribute.fget if isinstance(attribute, property) else attribute).__doc__
            assert doc and doc.strip(), f"ad.{cls}.{member} has no docstring"
