"""docs/security.md names the tests that hold each OWASP item: every `file::test` it names exists
(a `::test` alone belongs to the file named last before it), and every item of the list is there."""

from __future__ import annotations

import re

from django.conf import settings

DOC = settings.BASE_DIR / "docs" / "security.md"
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)?::(\w+)`")


def test_every_test_the_checklist_names_exists():
    text = DOC.read_text()
    current = None
    missing = []
    named = 0
    for match in REFERENCE.finditer(text):
        current = match.group(1) or current
        assert current is not None, match.group(0)
        source = (settings.BASE_DIR / current).read_text()
        named += 1
        if not re.search(rf"^(async )?def {match.group(2)}\(", source, re.MULTILINE):
            missing.append(f"{current}::{match.group(2)}")
    assert missing == []
    assert named > 50


def test_the_checklist_has_every_item_of_the_2023_list():
    headings = re.findall(r"^## (API\d+) ", DOC.read_text(), re.MULTILINE)
    assert headings == [f"API{i}" for i in range(1, 11)]
