"""What the CLI says when things go wrong: short (two lines per failed entry, a note once), the right word
for each cause, what an interrupt kept, the extra that is missing, where an unfixable value is found, and
how to use a weights file of one's own."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import warnings

from tresnet_zoo.errors import ZooWarning

from .conftest import PYTHON, REPO, env_without, python_env


def _entry_lines(err: str, name: str) -> list[str]:
    return [line for line in err.splitlines() if f" {name}:" in line or line.startswith(f"{name}:")]


def test_fetch_all_from_an_empty_mirror_is_two_lines_per_entry_and_one_note(cli, zoo, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    r = cli(*zoo.args("fetch", "--all", "--mirror", str(folder), "-q"))
    assert r.code != 0 and r.code != 70, r.text
    assert r.err.count("has no manifest") == 1, r.err
    lines = r.err.splitlines()
    for name in ("tresnet_m", "tresnet_m_release"):
        error = next(i for i, line in enumerate(lines) if line.startswith(f"error: {name}: "))
        assert lines[error + 1].startswith("hint: ")
        assert len(_entry_lines(r.err, name)) == 1  # the error line only: no per-source warnings beside it
        # a local file that is not there is missing, not a dead link
        assert "dead link" not in lines[error] and ("not in the mirror folder" in lines[error]
                                                    or "is missing" in lines[error]), lines[error]
    assert "warning:" not in r.err


def test_a_failed_fetch_names_the_url_once_and_offers_an_own_checkpoint(cli, zoo, server, checkpoints):
    name = checkpoints["tresnet_m"].filename
    server.always(name, "status", code=404)
    r = cli(*zoo.args("fetch", "tresnet_m", "--retries", "0", "-q"))
    assert r.code in (1, 3), r.text
    error, hint = r.err.splitlines()
    assert error.count(server.url(name)) <= 1, error
    assert "--checkpoint PATH" in hint and hint.startswith("hint: ")


def test_library_warnings_go_through_warnings_and_can_be_filtered(cli, zoo, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ZooWarning)
        r = cli(*zoo.args("fetch", "tresnet_m", "--mirror", str(folder), "-q"))
    assert r.code != 0 and "no manifest" not in r.err, r.err
    r = cli(*zoo.args("fetch", "tresnet_m", "--mirror", str(folder), "-q"))
    assert "note: the mirror" in r.err and "no manifest" in r.err


def test_ctrl_c_during_fetch_says_what_was_kept_and_that_fetch_resumes(zoo, server, checkpoints):
    ckpt = checkpoints["tresnet_m"]
    server.always(ckpt.filename, "slow", rate=1 << 17)  # ~1000 s for the file: it is still running when stopped
    env = dict(python_env(), PYTHONPATH=str(REPO))
    args = [PYTHON, "-c", "from tresnet_zoo.cli import main; main()", *zoo.args("fetch", "tresnet_m")]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        for _ in range(600):  # until the partial download holds bytes
            if any(p.stat().st_size > 0 for p in zoo.partials()):
                break
            time.sleep(0.1)
        assert zoo.partials(), "no partial download appeared"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert "interrupted" in err and "kept" in err and "resumes" in err, err
    assert "Traceback" not in err
    assert zoo.partials(), "the partial download was not kept"


def test_a_missing_extra_names_it_with_an_install_command_that_works_here(tmp_path):
    env = env_without(tmp_path, "torch")
    done = subprocess.run([PYTHON, "-c", "from tresnet_zoo.cli import main; main()", "check"], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=120)
    assert done.returncode == 3, done.stderr
    error, hint = done.stderr.splitlines()
    assert "'torch' extra" in error and "ModuleNotFoundError" not in done.stderr
    assert hint.startswith(f"hint: {sys.executable} -m pip install -e '.[torch]'"), hint


def test_check_fix_says_where_the_values_it_cannot_fix_are_found(cli, tmp_path):
    index = tmp_path / "i.yml"
    index.write_text("Models:\n- Name: tresnet_m\n  Metadata: {Parameters: 1, FLOPs: 5736545792, File Size: 12,"
                     " Image Size: 224}\n  Weights: https://example.org/tresnet_m-0123abcd.pth\n")
    r = cli("check", "--index", index, "--fix")
    assert r.code == 1, r.text
    assert "fixed: " in r.err and "Parameters" in r.err
    line = next(line for line in r.out.splitlines() if line.startswith("not fixed: tresnet_m > File Size"))
    assert "check --links tresnet_m" in line
    assert "not fixed: tresnet_m > Parameters" not in r.out
    assert json.loads(cli("check", "--index", index, "--json").out)["entries"][0]["verdicts"][1]["status"] == "ok"


def test_the_lock_hint_fetches_only_what_can_be_fetched(cli, tmp_path):
    """The bundled tresnet_v2_l_miil_in21k has no hash anywhere (fetch refuses it): `lock` of an empty cache
    hints fetching the others, never it."""
    r = cli("lock", "--output", tmp_path / "team.lock")
    assert r.code == 1, r.text
    hint = next(line for line in r.err.splitlines() if line.startswith("hint: "))
    command = hint.removeprefix("hint: ").split("  # ")[0]
    fetch = command.split(" && ")[0].split()
    assert "tresnet_m" in fetch and "tresnet_v2_l_miil_in21k" not in fetch, hint
    assert "not locked: tresnet_v2_l_miil_in21k" in r.out


def test_docs_serve_says_what_it_does_before_its_first_build(tmp_path):
    env = dict(python_env(), PYTHONPATH=str(REPO))
    args = [PYTHON, "-c", "from tresnet_zoo.cli import main; main()", "docs", "serve", "--port", "0", "--out",
            str(tmp_path / "site")]
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        first = child.stderr.readline()  # before the build, which takes a while, is done
    finally:
        child.kill()
        child.communicate(timeout=60)
    assert "building the site" in first and "then serving it at http://127.0.0.1:" in first, first


def test_predict_without_its_weights_hints_a_checkpoint_of_ones_own(cli, tmp_path, monkeypatch):
    from PIL import Image

    image = tmp_path / "cat.png"
    Image.new("RGB", (32, 32), "white").save(image)
    monkeypatch.setenv("TRESNET_ZOO_OFFLINE", "1")
    r = cli("predict", "tresnet_m", image)
    assert r.code in (2, 3), r.text
    hint = r.err.splitlines()[-1]
    assert hint.startswith("hint: ") and "tresnet-zoo predict tresnet_m IMAGE --checkpoint PATH" in hint, r.err
