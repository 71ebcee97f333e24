"""`predict --runtime onnx` keeps its export in the shared cache's exports/ folder: planted things there are
not followed. A FIFO (or link) put where the export's sha256 record goes is not read (with no writer it
blocked `predict` forever; with one, the writer vouched for whatever model.onnx was there): the export is
made again and the record rewritten as a file. And an exports/ folder replaced by a link
to another folder does not send the export there. Found by attack."""

from __future__ import annotations

import errno
import os
import threading

import pytest
import torch

from tresnet_zoo.export import onnx_model
from tresnet_zoo.models.tresnet import build

from .test_models import one_entry_index, randomised_state
from .test_onnx_external_data import _classifier

pytest.importorskip("onnxruntime", reason="the [onnx] extra")
pytest.importorskip("onnx", reason="the [onnx] extra")

SIZE = 32


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted-export")
    model = build("tresnet_m").eval()
    model.load_state_dict(randomised_state(model, seed=3))
    path = folder / "weights.pth"
    torch.save(model.state_dict(), path)
    return {"checkpoint": path, "index": one_entry_index(folder, "tresnet_m", SIZE)}


def _run(weights, cache):
    return onnx_model("tresnet_m", checkpoint=weights["checkpoint"], index=weights["index"], cache_dir=cache)


@pytest.mark.hostile
def test_a_fifo_as_the_export_record_is_not_read(weights, tmp_path):
    _run(weights, tmp_path)
    (record,) = (tmp_path / "exports").glob("*/model.onnx.sha256")
    digest = record.read_text()
    record.unlink()
    os.mkfifo(record)
    opened = threading.Event()

    def writer():  # blocks until someone opens the FIFO to read it; then vouches for the model there
        try:
            with open(record, "w") as fifo:
                opened.set()
                fifo.write(digest)
        except OSError as exc:  # the reader closed it unread (EPIPE), or it was replaced
            assert exc.errno in (errno.EPIPE, errno.ENXIO, errno.ENOENT)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    model = _run(weights, tmp_path)
    if not opened.is_set():  # release the writer if it still waits on the FIFO
        try:
            os.close(os.open(record, os.O_RDONLY | os.O_NONBLOCK))
        except OSError:
            pass
    thread.join(5)
    assert model.num_classes == 1000
    assert record.is_file() and not record.is_symlink() and record.read_text() == digest


@pytest.mark.hostile
def test_an_exports_folder_planted_as_a_link_is_not_followed(weights, tmp_path):
    cache, elsewhere = tmp_path / "cache", tmp_path / "elsewhere"
    cache.mkdir()
    elsewhere.mkdir()
    (cache / "exports").symlink_to(elsewhere)
    try:
        _run(weights, cache)
    except OSError as exc:  # a plain OSError would reach the CLI as exit 70
        pytest.fail(f"unmapped {exc!r}")
    except Exception as exc:  # noqa: BLE001 - a ZooError refusing the link is fine
        assert type(exc).__module__.startswith("tresnet_zoo"), exc
    assert list(elsewhere.iterdir()) == []


@pytest.mark.hostile
@pytest.mark.xfail(strict=True, reason="the cached export's only check is a sha256 record written beside it in the "
                   "shared cache: whoever can plant the file can plant the record; needs an anchor the cache's other "
                   "users cannot write (a per-user record, or the owner and mode of the folder checked)")
def test_a_planted_export_with_a_matching_record_is_not_run(weights, tmp_path):
    import hashlib

    _run(weights, tmp_path)
    (target,) = (tmp_path / "exports").glob("*/model.onnx")
    planted = _classifier(None, ("n", 3, "h", "w"))
    target.write_bytes(planted)
    (target.parent / "model.onnx.sha256").write_text(hashlib.sha256(planted).hexdigest() + "\n")
    assert _run(weights, tmp_path).num_classes == 1000


@pytest.mark.hostile
def test_a_link_planted_as_the_cached_export_is_replaced_not_followed(weights, tmp_path):
    cache = tmp_path / "cache"
    _run(weights, cache)
    (target,) = (cache / "exports").glob("*/model.onnx")
    outside = tmp_path / "outside.onnx"
    outside.write_bytes(_classifier(None, ("n", 3, "h", "w")))
    target.unlink()
    target.symlink_to(outside)
    assert _run(weights, cache).num_classes == 1000  # made again in the cache's own folder
    assert not target.is_symlink() and target.is_file()
    assert outside.read_bytes() == _classifier(None, ("n", 3, "h", "w"))
