"""The repository passes `ruff check .` (pyproject.toml: line length 120, sorted imports, imports inside functions
only where marked), and every import kept inside a function in tresnet_zoo/ says why (issue 8)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# `# noqa: PLC0415 (why)`, also after other codes (`# noqa: F401, PLC0415 (why)`); the reason is not empty
_NOQA = re.compile(r"#\s*noqa:[^#\n]*\bPLC0415\b")
_REASONED = re.compile(r"#\s*noqa:[^#\n]*\bPLC0415\b\s*\(\s*[^)\s][^)]*\)")


def unexplained_lazy_imports(text: str) -> list[int]:
    """Line numbers (1-based) of ``noqa: PLC0415`` markers in ``text`` that carry no reason in parentheses."""
    return [n for n, line in enumerate(text.splitlines(), 1) if _NOQA.search(line) and not _REASONED.search(line)]


def test_ruff_check_passes():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"ruff check . failed:\n{result.stdout}\n{result.stderr}"


def test_every_lazy_import_says_why():
    found = 0
    bad = []
    for path in sorted((ROOT / "tresnet_zoo").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        found += len(_NOQA.findall(text))
        bad += [f"{path.relative_to(ROOT)}:{n}" for n in unexplained_lazy_imports(text)]
    assert found > 0  # the markers are there to check (torch, requests, ... load lazily)
    assert not bad, "imports inside functions without a reason in parentheses:\n" + "\n".join(bad)


def test_the_checker_rejects_an_unmarked_reason():
    good = "    import torch  # noqa: PLC0415 (torch: seconds to import)\n"
    also_good = "    import torch  # noqa: F401, PLC0415  (check builds models)\n"
    bare = "    import torch  # noqa: PLC0415\n"
    empty = "    import torch  # noqa: PLC0415 ()\n"
    reason_elsewhere = "    import torch  # noqa: PLC0415 - torch is heavy\n"
    assert unexplained_lazy_imports(good + also_good) == []
    assert unexplained_lazy_imports(good + bare + empty + reason_elsewhere) == [2, 3, 4]
