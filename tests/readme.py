"""The README's code examples, read the one way every test that runs them reads them."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks(section: str) -> list[str]:
    """The ```python blocks of one README section: from its heading (``section``, the
    whole heading line as written) to the next level-2 heading or the end."""
    text = README.read_text(encoding="utf-8")
    start = text.index(section)
    end = text.find("\n## ", start + len(section))
    return _BLOCK.findall(text[start : end if end != -1 else len(text)])
