"""README is a front page whose commands run as printed; the reference text lives on the docs site."""

from __future__ import annotations

import re
import subprocess

import pytest

from tresnet_zoo.docs.build import GUIDES

from .conftest import PYTHON, REPO, python_env

README = (REPO / "README.md").read_text(encoding="utf-8")
CI = (REPO / ".ci" / "run").read_text(encoding="utf-8")


def _blocks(heading: str, language: str) -> list[str]:
    """The fenced ``language`` blocks of README's section ``heading``."""
    section = README.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(rf"```{language}\n(.*?)```", section, re.DOTALL)


def test_readme_is_a_front_page_with_both_commands_first():
    lines = README.splitlines()
    assert len(lines) <= 150
    ci_command = next(ln for ln in CI.splitlines() if ln.startswith("python3 -m venv"))
    assert ci_command.endswith('pip install -q -e ".[test]" && python -m pytest -q')
    head = lines[:40]
    first = next(i for i, ln in enumerate(head) if ln.startswith("python3 -m venv") and "tresnet-zoo check" in ln)
    assert ci_command in head  # command 2, exactly what CI runs
    cpu = next(i for i, ln in enumerate(lines) if "download.pytorch.org/whl/cpu" in ln)
    assert cpu < first  # the CPU-only line comes before the commands that would pull CUDA torch
    assert re.search(r"tests take about \d+ minutes? on a 2-core machine", README)
    for command in ("tresnet-zoo list", "tresnet-zoo check", "tresnet-zoo fetch tresnet_xl --verify",
                    "tresnet-zoo docs build"):
        assert command in README
    assert "pip install tresnet-zoo" not in README and 'pip install "tresnet-zoo' not in README  # not published


def test_readme_python_is_short_and_compiles():
    for heading in ("Python", "Coming from timm", "Your own checkpoint"):
        for block in _blocks(heading, "python"):
            assert len(block.strip().splitlines()) <= 10, heading
            compile(block, heading, "exec")
    assert "model.train()" in "".join(_blocks("Python", "python"))


def test_readme_links_name_guides_the_site_builds():
    linked = re.findall(r"\]\(docs/templates/([a-z0-9-]+\.md)\)", README)
    assert len(linked) >= 6
    for page in linked:
        assert (REPO / "docs" / "templates" / page).is_file(), page
        assert page in GUIDES.values(), page
        assert f"`{page[:-3]}.html`" in README  # the address on the site beside the source link


@pytest.mark.slow  # saves and verifies a full-size tresnet_m checkpoint
def test_own_checkpoint_five_line_index_fetches_verifies_and_loads(tmp_path):
    """README's "Your own checkpoint": the shell lines and the Python line, run as printed on a local file."""
    import torch

    from tresnet_zoo.models.tresnet import build

    torch.manual_seed(0)
    torch.save(build("tresnet_m", num_classes=10).state_dict(), tmp_path / "my_tresnet_m.pth")
    (shell,) = _blocks("Your own checkpoint", "bash")
    index_lines = shell.split("<<EOF\n", 1)[1].split("\nEOF\n", 1)[0].splitlines()
    assert len(index_lines) <= 5
    env = python_env()
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", shell], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "sha256: ok" in done.stdout and "deep: ok" in done.stdout and "logits [1, 10]" in done.stdout
    validated = subprocess.run(["tresnet-zoo", "--index", "my-index.yml", "validate"],
                               cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert validated.returncode == 0, validated.stderr
    (load,) = _blocks("Your own checkpoint", "python")
    check = load + "assert model.num_classes == 10 and not model.training\n"
    loaded = subprocess.run([PYTHON, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert loaded.returncode == 0, loaded.stderr
