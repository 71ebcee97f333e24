"""Checkpoints and images aimed at `predict`: head rows that no bytes back, compressed pickles that would
inflate, extreme aspect ratios, file names that are not UTF-8. Each was found by attacking the weights side
and once got through; real files, nothing mocked."""

from __future__ import annotations

import io
import json
import subprocess
import zipfile

import pytest
import torch

from tresnet_zoo.errors import CheckpointError
from tresnet_zoo.models.tresnet import build
from tresnet_zoo.predict import _checkpoint_classes

from .helpers.paths import PYTHON, python_env

pytestmark = pytest.mark.hostile  # each case was found by attacking the code (see the docstrings)


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    from PIL import Image

    path = tmp_path_factory.mktemp("img") / "a.png"
    Image.new("RGB", (40, 30), (10, 200, 30)).save(path)
    return path


@pytest.fixture(scope="module")
def expanded_head(tmp_path_factory):
    """A real tresnet_m state dict whose classifier is a stride-0 view declaring 10**8 rows: torch.save
    keeps one row of bytes, the pickle declares the rest (a ~117 MB file claiming an 819 GB head)."""
    state = {k: v.clone() for k, v in build("tresnet_m").state_dict().items()}
    state["head.fc.weight"] = torch.zeros(1, state["head.fc.weight"].shape[1]).expand(10**8, -1)
    state["head.fc.bias"] = torch.zeros(1).expand(10**8)
    path = tmp_path_factory.mktemp("ckpt") / "expanded.pth"
    torch.save(state, path)
    return path


def test_predict_checkpoint_head_rows_must_be_backed_by_bytes(cli, image, expanded_head):
    """The class count read from --checkpoint sized a fresh classifier before the file was loaded: 10**8
    declared rows asked for 819 GB and ended in exit 70. Rows the file does not hold do not count."""
    assert _checkpoint_classes(expanded_head) is None
    result = cli("predict", "tresnet_m", image, "--checkpoint", expanded_head)
    assert result.code == 1, result.text
    assert "internal error" not in result.text
    assert "head.fc.weight" in result.err


def _pickle_bomb(path, inflated: int) -> None:
    """A torch zip whose data.pkl is DEFLATE-compressed: a huge string (popped), then a real state dict."""
    buf = io.BytesIO()
    torch.save({"head.fc.weight": torch.zeros(3, 2)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    with zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info)
            if not info.filename.endswith("data.pkl"):
                out.writestr(info, data)
                continue
            zinfo = zipfile.ZipInfo(info.filename)
            zinfo.compress_type = zipfile.ZIP_DEFLATED
            with out.open(zinfo, "w", force_zip64=True) as handle:
                handle.write(b"\x80\x02X" + inflated.to_bytes(4, "little"))
                chunk = b"a" * (16 << 20)
                for _ in range(inflated // len(chunk)):
                    handle.write(chunk)
                handle.write(b"a" * (inflated % len(chunk)) + b"0" + data[2:])


def test_predict_checkpoint_compressed_pickle_refused_before_it_inflates(tmp_path, image):
    """Reading the class count ran torch.load on the uninspected file: a 1 MB zip whose pickle inflates to
    1.2 GB took ~4 GB of memory before the loader's own inspection refused it."""
    bomb = tmp_path / "bomb.pth"
    _pickle_bomb(bomb, 1_200_000_000)
    assert bomb.stat().st_size < 5 << 20
    with pytest.raises(CheckpointError, match="compressed"):
        _checkpoint_classes(bomb)
    code = (
        "import sys\n"
        "from tresnet_zoo.cli import main\n"
        f"code = main(['predict', 'tresnet_m', {str(image)!r}, '--checkpoint', {str(bomb)!r}])\n"
        # VmHWM: this process's own peak (ru_maxrss would carry the forking test process's peak over exec)
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print('maxrss_kb', hwm)\n"
        "sys.exit(code)\n"
    )
    proc = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=python_env(), timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "compressed" in proc.stderr
    rss_kb = int(proc.stdout.split("maxrss_kb")[1])
    assert rss_kb < 1_200_000, f"peak RSS {rss_kb} kB"


@pytest.fixture(scope="module")
def random_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tresnet_m-random.pth"
    torch.save(build("tresnet_m").state_dict(), path)
    return path


def test_predict_extreme_aspect_ratio_is_a_bounded_image_error(tmp_path, cli, image, random_checkpoint):
    """A 390-byte 2x30000 PNG (60k pixels, far under the header limit) resized its short side to 256 and
    its long side to 3.84 million: 4.7 GB of memory and 35 s; a 1x1000000 PNG ended in exit 70. The
    resize target is held to the pixel limit, and the other images still get their predictions."""
    from PIL import Image

    thin, thinner = tmp_path / "thin.png", tmp_path / "thinner.png"
    Image.new("RGB", (2, 30000), (1, 2, 3)).save(thin)
    Image.new("RGB", (1, 1_000_000), (1, 2, 3)).save(thinner)
    result = cli("predict", "tresnet_m", thin, thinner, image, "--checkpoint", random_checkpoint, "--json", "-q")
    assert result.code == 1, result.text
    assert "internal error" not in result.text
    assert "2 of 3 images failed" in result.err
    assert result.err.count("resizes to") == 2, result.err
    assert result.out.count('"predictions"') == 1, result.out


def test_predict_json_with_a_file_name_that_is_not_utf8(tmp_path, random_checkpoint):
    """A file name that is not UTF-8 (bytes b'\\xff\\xfe') reaches --json as lone surrogates: with a strict
    UTF-8 stdout (any UTF-8 locale but C.UTF-8) writing them was exit 70. They are now written as JSON
    escapes: valid UTF-8 JSON that reads back as the same name."""
    import os

    from PIL import Image

    folder = tmp_path / "odd"
    folder.mkdir()
    odd = os.fsdecode(bytes(folder) + b"/\xff\xfe.png")
    Image.new("RGB", (40, 30), (9, 9, 9)).save(odd)
    for encoding in ("utf-8:strict", "ascii:strict"):
        code = "import sys; from tresnet_zoo.cli import main; sys.exit(main(sys.argv[1:]))"
        proc = subprocess.run([PYTHON, "-c", code, "predict", "tresnet_m", str(folder), "--checkpoint",
                               str(random_checkpoint), "--json", "-q"], capture_output=True, timeout=120,
                              env={**python_env(), "PYTHONIOENCODING": encoding})
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        data = json.loads(proc.stdout.decode("utf-8"))
        assert [r["file"] for r in data["results"]] == [odd]

