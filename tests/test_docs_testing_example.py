"""The example property tests of the README's ``oms.testing`` section, run as written.

The ```python blocks of that section form one test file (the second block continues the
first), so they are executed in order in one namespace and every ``test_*`` function they
define is run here. A change that breaks the documented example breaks this test.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.readme import README, python_blocks

SECTION = "## Property-testing your own consumer: `oms.testing`"
TEST = re.compile(r"^def (test_\w+)", re.MULTILINE)


def blocks() -> list[str]:
    return python_blocks(SECTION)


def documented_tests() -> list[str]:
    return [name for code in blocks() for name in TEST.findall(code)]


@pytest.fixture(scope="module")
def namespace() -> dict[str, Any]:
    space: dict[str, Any] = {"__name__": "docs_testing_example"}
    for number, code in enumerate(blocks(), start=1):
        exec(compile(code, f"{README}:python block {number}", "exec"), space)  # noqa: S102 - our own docs
    return space


def test_the_document_has_the_example_blocks():
    assert len(blocks()) >= 2
    assert all(TEST.search(code) for code in blocks())


@pytest.mark.parametrize("name", documented_tests())
def test_documented_example_passes(namespace, name):
    namespace[name]()
