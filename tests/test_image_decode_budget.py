"""Images are decoded only in the allow-listed formats (told from their first bytes), refused from the
header over the pixel limit, and refused from their markers when a JPEG holds more scans than
``MAX_JPEG_SCANS``: decode work is bounded by pixels and scans, not by a clock. Found by an attack: an
ICO decoded whole inside ``Image.open``; a 1 MB progressive JPEG of many scans decoding for 46 s."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import textwrap
import zlib

import pytest

Image = pytest.importorskip("PIL.Image")

from tresnet_zoo.errors import ImageError  # noqa: E402
from tresnet_zoo.predict import MAX_JPEG_SCANS, open_image  # noqa: E402

from .conftest import PYTHON, python_env  # noqa: E402


def _png(width: int, height: int) -> bytes:
    """A real RGBA PNG of zeros, compressed row by row (never held whole in memory): 8000 x 8000 is 256 MB
    decoded from ~250 KB."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer, row, parts = zlib.compressobj(9), bytes(1 + 4 * width), []
    for _ in range(height):
        parts.append(packer.compress(row))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def _ico(embedded: bytes) -> bytes:
    """An ICO of one entry (size 0 = 256) whose image is ``embedded`` (Pillow decodes it inside open)."""
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(embedded), 22) + embedded


def _progressive_jpeg(scans_added: int) -> bytes:
    """A progressive JPEG with its last scan repeated ``scans_added`` times, written marker by marker."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (10, 200, 30)).save(out, "JPEG", progressive=True, quality=90)
    data = out.getvalue()
    last = data.rindex(b"\xff\xda")
    scan = data[last:-2]  # SOS segment and its entropy-coded data, up to EOI
    return data[:-2] + scan * scans_added + b"\xff\xd9"


def test_a_progressive_jpeg_of_many_scans_is_refused_from_its_markers(tmp_path):
    ok, hostile = tmp_path / "ok.jpg", tmp_path / "scans.jpg"
    ok.write_bytes(_progressive_jpeg(0))
    hostile.write_bytes(_progressive_jpeg(MAX_JPEG_SCANS))
    assert open_image(ok).size == (64, 64)
    with pytest.raises(ImageError, match=rf"scans\.jpg: a JPEG of more than {MAX_JPEG_SCANS} scans"):
        open_image(hostile)


def test_formats_outside_the_allow_list_are_refused_by_name(tmp_path):
    tiff, ico = tmp_path / "photo.tif", tmp_path / "icon.png"  # the name says PNG: the bytes decide
    Image.new("RGB", (32, 32)).save(tiff, "TIFF")
    ico.write_bytes(_ico(_png(16, 16)))
    for path in (tiff, ico):
        with pytest.raises(ImageError, match=rf"{path.name}: not an image in a format read here \(JPEG, PNG"):
            open_image(path)


def test_allowed_formats_still_decode(tmp_path):
    for fmt in ("JPEG", "PNG", "WEBP", "BMP", "GIF", "PPM"):
        path = tmp_path / f"image.{fmt.lower()}"
        Image.new("RGB", (40, 30), (1, 2, 3)).save(path, fmt)
        assert open_image(path).size == (40, 30)


CHILD = textwrap.dedent("""
    import resource, sys
    from tresnet_zoo.errors import ImageError
    from tresnet_zoo.predict import open_image
    from PIL import Image
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        open_image(sys.argv[1])
    except ImageError as exc:
        print("refused:", exc)
    print("grew_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
""")


def test_an_ico_holding_a_huge_png_is_refused_before_decoding(tmp_path):
    """A 250 KB ICO whose PNG decodes to 256 MB: refused, and the process does not grow by the decode
    (peak RSS measured in a child process, no clock)."""
    path = tmp_path / "favicon.ico"
    path.write_bytes(_ico(_png(8000, 8000)))
    assert path.stat().st_size < 1_000_000
    done = subprocess.run([PYTHON, "-c", CHILD, str(path)], capture_output=True, text=True, env=python_env(),
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "refused: " in done.stdout and "favicon.ico" in done.stdout
    assert int(done.stdout.split("grew_kb")[1]) < 64_000  # the decode would take 256 MB


def test_predict_names_each_refused_image_and_exits_1(checkpoints, tmp_path, cli):
    from .test_models import one_entry_index

    weights = tmp_path / "w.pth"
    weights.write_bytes(checkpoints["tresnet_m"].data)
    good, scans, ico = tmp_path / "good.png", tmp_path / "scans.jpg", tmp_path / "icon.ico"
    Image.new("RGB", (50, 40), (9, 9, 9)).save(good)
    scans.write_bytes(_progressive_jpeg(MAX_JPEG_SCANS))
    ico.write_bytes(_ico(_png(300, 300)))
    done = cli("--index", one_entry_index(tmp_path, "tresnet_m"), "predict", "tresnet_m", good, scans, ico,
               "--checkpoint", weights, "--json")
    assert done.code == 1, done.text
    results = {r["file"]: r for r in json.loads(done.out)["results"]}
    assert results[str(good)]["ok"]
    assert "scans" in results[str(scans)]["error"] and str(scans) in results[str(scans)]["error"]
    assert "format" in results[str(ico)]["error"] and str(ico) in results[str(ico)]["error"]
    assert "Traceback" not in done.err
