"""book/references.bib: every entry cited in the text reads differently.

The book cites author-year, and its style prints no 2024a/2024b letters, so two
entries by the same author in the same year would look like one source.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

BIB = Path(__file__).resolve().parent.parent / "book" / "references.bib"


def entries() -> dict[str, str]:
    text = BIB.read_text()
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"^@\w+\{([^,]+),", text, flags=re.M)]
    ends = [s for s, _ in starts[1:]] + [len(text)]
    return {key: text[start:end] for (start, key), end in zip(starts, ends)}


def field(entry: str, name: str) -> str:
    match = re.search(rf"^\s*{name}\s*=\s*(.+?),?\s*$", entry, flags=re.M)
    return re.sub(r"[{}]", "", match.group(1)).strip() if match else ""


def test_keys_are_unique():
    keys = re.findall(r"^@\w+\{([^,]+),", BIB.read_text(), flags=re.M)
    assert [k for k, n in Counter(keys).items() if n > 1] == []


def test_no_two_entries_share_a_first_author_and_year():
    labels = Counter()
    for entry in entries().values():
        authors = field(entry, "author")
        first = authors.split(" and ")[0].split(",")[0].strip()
        labels[first, field(entry, "year")] += 1
    assert [label for label, n in labels.items() if n > 1] == []
