"""Every load is verified, and crafted checkpoints are refused before they allocate.

Real files on disk, real torch.load, a real loopback server (the session's FaultServer) for fetches.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import tresnet_zoo  # noqa: E402
from tresnet_zoo.errors import CheckpointError, IntegrityError, OfflineError, UnsafeCheckpointError  # noqa: E402
from tresnet_zoo.models import checkpoint_bytes_bound  # noqa: E402
from tresnet_zoo.models.formats import LEGACY_PICKLE, SAFETENSORS, TORCH_ZIP, detect_format  # noqa: E402
from tresnet_zoo.models.layouts import read_checkpoint, read_state  # noqa: E402

from .helpers.indexes import zoo_index_text  # noqa: E402
from .helpers.paths import REPO  # noqa: E402

FAST = ("--timeout", "5", "--retries", "2", "--quiet")


def flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def m_state():
    from tresnet_zoo.models.tresnet import build

    torch.manual_seed(7)
    return build("tresnet_m").state_dict()


# --- integrity: a cache hit is hashed when it is loaded ----------------------------------------------


def test_same_size_tamper_of_a_cached_file_is_caught_by_create_model(zoo, checkpoints):
    model = tresnet_zoo.create_model("tresnet_m", pretrained=True, index=zoo.index, cache_dir=zoo.cache)
    expected = torch.load(io.BytesIO(checkpoints["tresnet_m"].data), weights_only=True)
    torch.testing.assert_close(model.state_dict()["head.fc.weight"], expected["head.fc.weight"])
    size = zoo.final().stat().st_size
    flip_middle_byte(zoo.final())
    assert zoo.final().stat().st_size == size  # the record and the size still say "verified"
    with pytest.raises(IntegrityError, match="refused to load it") as err:
        tresnet_zoo.create_model("tresnet_m", pretrained=True, index=zoo.index, cache_dir=zoo.cache)
    assert checkpoints["tresnet_m"].filename in str(err.value)


def test_tamper_caught_by_the_record_when_the_index_holds_only_a_hash_prefix(zoo, checkpoints):
    """The index's full SHA256 and the download's record are both checked: a swap that keeps the name's
    8-hex prefix (here: simulated by rewriting the record to another digest) is refused."""
    assert tresnet_zoo.create_model("tresnet_m", pretrained=True, index=zoo.index, cache_dir=zoo.cache) is not None
    record_path = next((zoo.cache / "records").glob(checkpoints["tresnet_m"].filename + "*"))
    record = json.loads(record_path.read_text())
    record["sha256"] = checkpoints["tresnet_m"].sha256[:8] + "0" * 56  # same prefix, other bytes recorded
    record_path.write_text(json.dumps(record))
    with pytest.raises(IntegrityError, match="differs from the one recorded when it was verified"):
        tresnet_zoo.create_model("tresnet_m", pretrained=True, index=zoo.index, cache_dir=zoo.cache)


def test_a_symlink_in_place_of_a_cached_file_is_not_loaded(zoo, checkpoints, tmp_path):
    assert tresnet_zoo.create_model("tresnet_m", pretrained=True, index=zoo.index, cache_dir=zoo.cache) is not None
    outside = tmp_path / "outside.pth"
    outside.write_bytes(zoo.final().read_bytes())
    zoo.final().unlink()
    outside.write_bytes(b"x" * outside.stat().st_size)  # what the link points at is not the weights
    zoo.final().symlink_to(outside)
    # a planted link is not a cached file: the verified weights are fetched again and replace the name,
    # never what the link points at
    assert tresnet_zoo.create_model("tresnet_m", pretrained=True, index=zoo.index, cache_dir=zoo.cache) is not None
    assert not zoo.final().is_symlink() and zoo.final().is_file()
    assert outside.read_bytes() == b"x" * outside.stat().st_size


def test_fetch_verify_hashes_a_cache_hit_and_never_claims_a_hash_it_did_not_compute(cli, zoo, checkpoints):
    first = cli(*zoo.args("fetch", "tresnet_m", *FAST, "--json"))
    (fresh,) = json.loads(first.out)["results"]
    assert fresh["downloaded"] and fresh["hashed"] and fresh["checks"]["sha256"] == "ok"

    hit = cli(*zoo.args("fetch", "tresnet_m", *FAST))
    assert hit.code == 0 and "already cached" in hit.out
    assert "sha256: ok" not in hit.out and "sha256: recorded, not hashed now" in hit.out
    hit_json = json.loads(cli(*zoo.args("fetch", "tresnet_m", *FAST, "--json")).out)["results"][0]
    assert hit_json["hashed"] is False and hit_json["checks"]["sha256"] != "ok"

    verified = cli(*zoo.args("fetch", "tresnet_m", "--verify", *FAST))
    assert verified.code == 0 and "size: ok, sha256: ok, deep: ok" in verified.out
    as_json = json.loads(cli(*zoo.args("fetch", "tresnet_m", "--verify", *FAST, "--json")).out)["results"][0]
    assert as_json["hashed"] is True and as_json["sha256"] == checkpoints["tresnet_m"].sha256

    flip_middle_byte(zoo.final())
    tampered = cli(*zoo.args("fetch", "tresnet_m", "--verify", *FAST))
    assert tampered.code == 1, tampered.text
    assert "sha256: ok" not in tampered.text and "deep: ok" not in tampered.text
    assert "refused to load it" in tampered.err and "Traceback" not in tampered.text
    api_error = pytest.raises(IntegrityError, tresnet_zoo.fetch, "tresnet_m", index=zoo.index, cache_dir=zoo.cache,
                              verify=True)
    assert "does not start with" in str(api_error.value)


def test_verify_deep_reads_once_and_reports_the_hash_of_what_it_read(cli, zoo, checkpoints):
    assert cli(*zoo.args("fetch", "tresnet_m", *FAST)).code == 0
    good = json.loads(cli(*zoo.args("verify", "tresnet_m", "--deep", "--json")).out)["files"][0]
    assert good["ok"] and good["hashed"] and good["deep"]["sha256"] == checkpoints["tresnet_m"].sha256
    flip_middle_byte(zoo.final())
    bad = cli(*zoo.args("verify", "tresnet_m", "--deep", "--json"))
    assert bad.code == 1
    (row,) = json.loads(bad.out)["files"]
    assert row["deep"] is None and any("does not start with" in p for p in row["problems"])


def test_create_model_takes_mirror_and_offline(zoo, checkpoints, tmp_path):
    with pytest.raises(OfflineError):
        tresnet_zoo.create_model("tresnet_m", pretrained=True, index=zoo.index, cache_dir=zoo.cache, offline=True)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / checkpoints["tresnet_m"].filename).write_bytes(checkpoints["tresnet_m"].data)
    model = tresnet_zoo.create_model("tresnet_m", pretrained=True, index=zoo.index, cache_dir=zoo.cache,
                                     mirror=mirror.as_uri())
    assert model.layout == "timm" and zoo.final().read_bytes() == checkpoints["tresnet_m"].data
    # now cached: offline works, and loads the same weights
    again = tresnet_zoo.create_model("tresnet_m", pretrained=True, index=zoo.index, cache_dir=zoo.cache, offline=True)
    torch.testing.assert_close(again.state_dict()["head.fc.bias"], model.state_dict()["head.fc.bias"])


# --- crafted checkpoints -------------------------------------------------------------------------------

BOMB_NUMEL = 1 << 28  # 1 GiB of float32


def _small_torch_zip(numel: int = 7777) -> zipfile.ZipFile:
    buf = io.BytesIO()
    torch.save({"body.conv1.conv.weight": torch.zeros(numel)}, buf)
    return zipfile.ZipFile(io.BytesIO(buf.getvalue()))


def _declare_numel(pickle_bytes: bytes, numel: int) -> bytes:
    """The pickle with 7777 (BININT2) replaced by ``numel`` (BININT) wherever it is an element count."""
    old = b"M" + struct.pack("<H", 7777)
    assert pickle_bytes.count(old) == 2  # the storage's numel and the tensor's size
    return pickle_bytes.replace(old, b"J" + struct.pack("<i", numel))


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A ~1 MB torch zip whose one tensor record is DEFLATE-compressed zeros declaring 1 GiB."""
    path = tmp_path_factory.mktemp("crafted") / "bomb.pth"
    source = _small_torch_zip()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as out:
        for info in source.infolist():
            if info.filename.endswith("/data/0"):
                record = zipfile.ZipInfo(info.filename)
                record.compress_type = zipfile.ZIP_DEFLATED
                with out.open(record, "w", force_zip64=True) as sink:
                    chunk = bytes(1 << 20)
                    for _ in range(BOMB_NUMEL * 4 >> 20):
                        sink.write(chunk)
            else:
                data = source.read(info.filename)
                if info.filename.endswith("data.pkl"):
                    data = _declare_numel(data, BOMB_NUMEL)
                out.writestr(info.filename, data)
    return path


def test_the_bomb_is_what_it_claims(bomb):
    assert bomb.stat().st_size < 4 << 20
    (record,) = [i for i in zipfile.ZipFile(bomb).infolist() if i.filename.endswith("/data/0")]
    assert record.compress_type == zipfile.ZIP_DEFLATED and record.file_size == BOMB_NUMEL * 4


def test_a_deflate_bomb_is_refused_before_allocation(bomb):
    with pytest.raises(CheckpointError, match="is compressed or encrypted"):
        read_checkpoint(bomb)  # no architecture bound at all: compression alone is refused
    with pytest.raises(CheckpointError, match="torch writes records uncompressed"):
        tresnet_zoo.create_model("tresnet_m", checkpoint_path=bomb)


RSS_PROBE = """
import json, resource, sys
import tresnet_zoo
from tresnet_zoo.errors import CheckpointError
model = tresnet_zoo.create_model("tresnet_m")  # the model and torch's own allocations, before the bomb
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    tresnet_zoo.create_model("tresnet_m", checkpoint_path=sys.argv[1])
    outcome = "loaded"
except CheckpointError as exc:
    outcome = str(exc)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after, "outcome": outcome}))
"""


def test_the_bomb_keeps_peak_memory_low(bomb):
    """Measured in a fresh process: peak RSS grows by less than 400 MB (torch's import alone is ~500 MB,
    a tresnet_m build ~160 MB more; inflating the bomb would add 1 GiB)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, "-c", RSS_PROBE, str(bomb)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert "compressed" in result["outcome"]
    grown_mb = (result["after_kb"] - result["before_kb"]) / 1024
    assert grown_mb < 400, result


def test_declared_tensor_bytes_beyond_the_architecture_are_refused(tmp_path, m_state):
    buf = io.BytesIO()
    torch.save(m_state, buf)
    data = buf.getvalue()
    bound = checkpoint_bytes_bound("tresnet_m")
    assert len(data) <= bound  # the real thing fits
    assert set(read_state(data, source="m.pth", max_bytes=bound)) == set(m_state)
    with pytest.raises(CheckpointError, match=r"its zip declares \d+ bytes of tensors, more than this architecture's"):
        read_state(data, source="m.pth", max_bytes=len(data) // 2)
    # a file larger than the architecture's bound is refused before it is read
    big = tmp_path / "optimizer.pth"
    torch.save({"model": m_state, "ema": {k: v.clone() for k, v in m_state.items()}}, big)
    with pytest.raises(CheckpointError, match="refused unread"):
        tresnet_zoo.create_model("tresnet_m", checkpoint_path=big)


def _patch_central_directory_size(data: bytes, name_suffix: bytes, size: int) -> bytes:
    """Rewrite the (32-bit) compressed and uncompressed sizes of a record in the zip's central directory."""
    out = bytearray(data)
    pos = out.find(b"PK\x01\x02")
    while pos != -1:
        name_len = struct.unpack_from("<H", out, pos + 28)[0]
        name = bytes(out[pos + 46:pos + 46 + name_len])
        if name.endswith(name_suffix):
            struct.pack_into("<II", out, pos + 20, size, size)
            return bytes(out)
        pos = out.find(b"PK\x01\x02", pos + 4)
    raise AssertionError("record not found")


def test_records_declaring_more_than_the_file_holds_are_refused():
    source = _small_torch_zip()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as out:
        for info in source.infolist():
            data = source.read(info.filename)
            out.writestr(info.filename, _declare_numel(data, 1 << 28) if info.filename.endswith("data.pkl") else data)
    crafted = _patch_central_directory_size(buf.getvalue(), b"/data/0", 1 << 30)
    with pytest.raises(CheckpointError, match="beyond the end of the file|more than the file's"):
        read_state(crafted, source="crafted.pth")


def test_a_pickle_record_far_larger_than_a_state_dict_needs_is_refused():
    source = _small_torch_zip()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as out:
        for info in source.infolist():
            out.writestr(info.filename, source.read(info.filename))
        out.writestr("archive/padding.pkl", bytes(17 << 20))
    with pytest.raises(CheckpointError, match="bytes of pickle and metadata beside the tensors"):
        read_state(buf.getvalue(), source="padded.pth")


def test_a_huge_image_size_is_refused_cleanly_by_the_deep_check(cli, zoo, checkpoints, server):
    text = zoo_index_text(checkpoints, server.url("/")).replace("Image Size: 224", "Image Size: 100000", 1)
    zoo.index.write_text(text)
    result = cli(*zoo.args("fetch", "tresnet_m", "--verify", *FAST))
    assert result.code == 1, result.text
    assert "Image Size" in result.err and "100000 is not a multiple of 32 in 64-1024" in result.err
    assert "Traceback" not in result.text
    for size in ("48", "100", "2048"):
        text = zoo_index_text(checkpoints, server.url("/"))
        zoo.index.write_text(text.replace("Image Size: 224", f"Image Size: {size}", 1))
        assert cli(*zoo.args("verify", "tresnet_m", "--deep")).code == 1


# --- formats: from the first bytes, never the name ----------------------------------------------------


def test_a_safetensors_file_named_pth_loads_natively(tmp_path, m_state):
    from safetensors.torch import save_file

    path = tmp_path / "weights.pth"
    save_file({k: v.contiguous() for k, v in m_state.items()}, str(path))
    assert detect_format(path.read_bytes()) == SAFETENSORS
    model = tresnet_zoo.create_model("tresnet_m", checkpoint_path=path, channels_last=False)
    for key in ("body.conv1.conv.weight", "head.fc.weight", "body.layer2.0.conv1.bn.running_var"):
        torch.testing.assert_close(model.state_dict()[key], m_state[key])


def test_safetensors_as_the_pretrained_file_of_an_entry(zoo, checkpoints, tmp_path, m_state):
    from safetensors.torch import save

    data = save({k: v.contiguous() for k, v in m_state.items()})
    name = f"tresnet_m-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / name).write_bytes(data)
    zoo.write(tresnet_m={"filename": name, "size": len(data)})
    model = tresnet_zoo.create_model("tresnet_m", pretrained=True, index=zoo.index, cache_dir=zoo.cache,
                                     mirror=mirror.as_uri(), channels_last=False)
    torch.testing.assert_close(model.state_dict()["head.fc.weight"], m_state["head.fc.weight"])


def _safetensors_bytes(header: dict, payload: bytes) -> bytes:
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + payload


@pytest.mark.parametrize("header, payload, message", [
    ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 1 << 30]}}, bytes(16), "lie outside"),
    ({"w": {"dtype": "X9", "shape": [4], "data_offsets": [0, 16]}}, bytes(16), "unknown dtype"),
    ({"w": {"dtype": "F32", "shape": [1 << 28], "data_offsets": [0, 16]}}, bytes(16), "does not fill"),
    ({"w": {"dtype": "F32", "shape": ["4"], "data_offsets": [0, 16]}}, bytes(16), "shape is not"),
    ({"w": [1, 2]}, bytes(16), "not a JSON object"),
])
def test_crafted_safetensors_headers_are_refused(header, payload, message):
    with pytest.raises(CheckpointError, match=message):
        read_state(_safetensors_bytes(header, payload), source="x.safetensors")


def test_a_safetensors_header_length_beyond_the_file_is_refused():
    data = struct.pack("<Q", 1 << 40) + b"{}"
    with pytest.raises(CheckpointError, match="refused: safetensors header of"):
        read_state(data, source="x.safetensors")


def test_declared_safetensors_bytes_are_bounded_by_the_architecture(m_state):
    from safetensors.torch import save

    data = save({k: v.contiguous() for k, v in m_state.items()})
    with pytest.raises(CheckpointError, match="its safetensors header declares"):
        read_state(data, source="m.safetensors", max_bytes=len(data) // 2)


def test_legacy_pickle_checkpoints_load_and_are_bounded(tmp_path, m_state):
    path = tmp_path / "legacy.pth"
    torch.save(m_state, path, _use_new_zipfile_serialization=False)
    assert detect_format(path.read_bytes()) == LEGACY_PICKLE
    model = tresnet_zoo.create_model("tresnet_m", checkpoint_path=path, channels_last=False)
    torch.testing.assert_close(model.state_dict()["head.fc.weight"], m_state["head.fc.weight"])
    with pytest.raises(CheckpointError, match="the file declares"):
        read_state(path.read_bytes(), source="legacy.pth", max_bytes=1 << 20)


def test_real_pickled_globals_still_say_pickled_code(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned > /dev/null",))

    for legacy in (False, True):
        path = tmp_path / f"evil{legacy}.pth"
        torch.save({"model": Payload()}, path, _use_new_zipfile_serialization=not legacy)
        with pytest.raises(UnsafeCheckpointError, match="holds pickled code or objects"):
            tresnet_zoo.create_model("tresnet_m", checkpoint_path=path)


def test_unknown_bytes_and_special_files_are_not_checkpoints(tmp_path):
    text = tmp_path / "notes.pth"
    text.write_text("hello, not a checkpoint")
    with pytest.raises(CheckpointError, match="neither a torch zip, a legacy torch pickle nor a safetensors file"):
        tresnet_zoo.create_model("tresnet_m", checkpoint_path=text)
    fifo = tmp_path / "fifo.pth"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match="not a regular file"):
        tresnet_zoo.create_model("tresnet_m", checkpoint_path=fifo)  # never blocks on the pipe
    assert detect_format(b"PK\x03\x04rest") == TORCH_ZIP


def test_a_file_under_another_name_is_detected_by_content(tmp_path, m_state):
    path = tmp_path / "weights.safetensors"
    torch.save(m_state, path)  # a torch zip named .safetensors
    model = tresnet_zoo.create_model("tresnet_m", checkpoint_path=path, channels_last=False)
    torch.testing.assert_close(model.state_dict()["head.fc.bias"], m_state["head.fc.bias"])


# --- the verified load skips the random init only where the checkpoint fills every tensor -------------


def test_a_pretrained_model_equals_an_initialised_build_loaded_with_the_same_weights(zoo, checkpoints):
    from tresnet_zoo.models.tresnet import build

    model = tresnet_zoo.create_model("tresnet_m", pretrained=True, index=zoo.index, cache_dir=zoo.cache,
                                     channels_last=False)
    reference = build("tresnet_m")
    reference.load_state_dict(torch.load(io.BytesIO(checkpoints["tresnet_m"].data), weights_only=True))
    reference.eval()
    for name, buffer in reference.named_buffers():  # the blur kernels too, which no checkpoint carries
        torch.testing.assert_close(model.get_buffer(name), buffer, rtol=0, atol=0)
    image = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        torch.testing.assert_close(model(image), reference(image))


def test_pretrained_with_other_classes_gets_an_initialised_head(zoo, checkpoints):
    model = tresnet_zoo.create_model("tresnet_m", pretrained=True, num_classes=10, index=zoo.index, cache_dir=zoo.cache)
    fc = model.head.fc
    assert fc.out_features == 10 and torch.isfinite(fc.weight).all()
    assert torch.equal(fc.bias, torch.zeros(10)) and 0.005 < float(fc.weight.detach().std()) < 0.02  # normal(0, 0.01)
    expected = torch.load(io.BytesIO(checkpoints["tresnet_m"].data), weights_only=True)
    torch.testing.assert_close(model.state_dict()["body.conv1.conv.weight"], expected["body.conv1.conv.weight"])
