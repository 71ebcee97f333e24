"""One error boundary: typed ZooError subclasses carry their fields (url, status, path, entry) from
creation, the CLI's hints are chosen by type and fields (only cli/hints.py names flags), and nothing
sets flags on an exception after it is made or reads its message to decide what it is."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tresnet_zoo.errors import (
    CachedFileDamagedError,
    CacheFolderError,
    DeadSourceError,
    DownloadError,
    IntegrityError,
    LockDisagreesError,
    MirrorMissingError,
    NetworkError,
    UnboundedDownloadError,
    UnpinnedError,
    UrlPolicyError,
)

PACKAGE = Path(__file__).resolve().parents[1] / "tresnet_zoo"


def _handler_attribute_writes(source: str) -> list[str]:
    """``exc.attr = ...`` inside ``except ... as exc:`` handlers, and on names bound to a ``*Error(...)`` call."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        names: set[str] = set()
        if isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(node):
                if (isinstance(sub, ast.Assign) and isinstance(sub.value, ast.Call)
                        and getattr(sub.value.func, "id", "").endswith("Error")):
                    names.update(t.id for t in sub.targets if isinstance(t, ast.Name))
        for sub in ast.walk(node):
            if isinstance(sub, (ast.Assign, ast.AugAssign)):
                targets = sub.targets if isinstance(sub, ast.Assign) else [sub.target]
                for target in targets:
                    if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                            and target.value.id in names):
                        found.append(f"{target.value.id}.{target.attr} (line {sub.lineno})")
    return found


def test_no_flags_set_on_exceptions_after_creation():
    paths = [*(PACKAGE / "weights").rglob("*.py"), PACKAGE / "api.py", PACKAGE / "errors.py"]
    offenders = {str(p.relative_to(PACKAGE)): w for p in paths if (w := _handler_attribute_writes(p.read_text()))}
    assert offenders == {}


def test_the_flag_check_sees_a_flag():
    source = ("def f():\n    try:\n        g()\n    except OSError as exc:\n        exc.dead = True\n"
              "def h():\n    error = DownloadError('x')\n    error.topic = 'network'\n    raise error\n")
    assert sorted(_handler_attribute_writes(source)) == ["error.topic (line 8)", "exc.dead (line 5)"]


def _message_tests(source: str) -> list[int]:
    """Lines that decide something by an error's text: ``'x' in exc.message``, ``'x' in str(exc)``, or a
    regular expression over either."""

    def is_message(node) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "message") or (
            isinstance(node, ast.Call) and getattr(node.func, "id", None) == "str" and len(node.args) == 1
            and isinstance(node.args[0], ast.Name))

    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            lines += [node.lineno for c in node.comparators if is_message(c)]
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and getattr(node.func.value, "id", None) == "re"):
            lines += [node.lineno for a in node.args if is_message(a)]
    return lines


def test_weights_never_read_an_error_message_to_classify_it():
    """Dead links are a type (DeadSourceError), S3's InvalidRange its error code: no test on message text."""
    offenders = {str(p.relative_to(PACKAGE)): w for p in (PACKAGE / "weights").rglob("*.py")
                 if (w := _message_tests(p.read_text()))}
    assert offenders == {}
    assert _message_tests("import re\nif 'HTTP 404' in exc.message or re.search('x', str(exc)):\n    pass\n") == [2, 2]


def test_errors_carry_their_fields_and_codes_as_class_attributes():
    dead = DeadSourceError("gone", url="https://h/x.pth", status=404, entry="tresnet_m")
    assert (dead.url, dead.status, dead.entry, dead.exit_code) == ("https://h/x.pth", 404, "tresnet_m", 3)
    assert UnpinnedError("x").exit_code == IntegrityError.exit_code == 1
    assert MirrorMissingError("x", path="/m").path == "/m"
    assert CacheFolderError("x", path="/c").path == "/c"
    for cls in (NetworkError, DeadSourceError, UrlPolicyError, UnboundedDownloadError, MirrorMissingError):
        assert issubclass(cls, DownloadError) and "exit_code" not in vars(cls)


@pytest.mark.parametrize("error, wanted", [
    (UnboundedDownloadError("x"), "--max-bytes"),
    (UrlPolicyError("x"), "--allow-http"),
    (CacheFolderError("x"), "--cache-dir"),
    (NetworkError("x", hint="h"), "TRESNET_ZOO_MIRROR"),
    (DeadSourceError("x", url="https://h/a.pth", status=404, hint="h"), "TRESNET_ZOO_MIRROR"),
    (DeadSourceError("x", url="s3://b/k/a.pth", status=404), "mirror push"),
    (CachedFileDamagedError("x"), "verify --repair"),
    (LockDisagreesError("x", hint="h"), "lock --update"),
])
def test_cli_hints_are_chosen_by_type_and_fields(error, wanted):
    from tresnet_zoo.cli.hints import hint_for

    assert wanted in hint_for(error, None)


def test_a_dead_object_in_a_store_gets_no_network_hint():
    from tresnet_zoo.cli.hints import hint_for

    hint = hint_for(DeadSourceError("x", url="s3://b/k/a.pth", status=404), None)
    assert "TRESNET_ZOO_MIRROR" not in hint and "--mirror DIR" not in hint


def test_library_hints_name_no_flags():
    """Only cli/hints.py names flags: the weights package's hints say what to do in words."""
    for path in (PACKAGE / "weights").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "hint":
                text = ast.unparse(node.value)
                assert " --" not in text and "`--" not in text, f"{path.name}: {text}"
