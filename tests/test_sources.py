"""An entry's sources in order over a real loopback server: a dead first source moves on and says so; a
first source serving wrong bytes is reported even though the second succeeds; HF_ENDPOINT is honoured."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")


def index_with_sources(path, ckpt, primary: str, extra: list[dict]) -> None:
    lines = [
        "Models:",
        "- Name: tresnet_m",
        "  Metadata:",
        "    Parameters: 31389032",
        f"    File Size: {ckpt.size}",
        "    Image Size: 224",
        "    x-tresnet-zoo:",
        "      sources:",
    ]
    for source in extra:
        lines.append(f"      - url: {source['url']}")
        for key in ("file", "size", "sha256"):
            if key in source:
                lines.append(f"        {key}: {source[key]}")
    lines.append(f"  Weights: {primary}")
    path.write_text("\n".join(lines) + "\n")


def _fetch_via_fallback(cli, index, ckpt, primary: str, fallback: str, tmp_path):
    """Write an index whose second source is ``fallback`` (file tresnet_m.miil_in1k.bin, the checkpoint's
    size and sha256), fetch tresnet_m once with no retries: its JSON result, and the run."""
    index_with_sources(index, ckpt, primary, [
        {"url": fallback, "file": "tresnet_m.miil_in1k.bin", "size": ckpt.size, "sha256": ckpt.sha256},
    ])
    got = cli(
        "--index", index, "--cache-dir", tmp_path / "cache", "fetch", "tresnet_m", "--quiet", "--json", "--retries", "0"
    )
    assert got.code == 0, got.text
    return json.loads(got.out)["results"][0], got


def test_dead_first_source_falls_back_and_says_so(cli, server, checkpoints, tmp_path):
    ckpt = checkpoints["tresnet_m"]
    dead = f"gone/{ckpt.filename}"
    server.always(dead, "status", code=403)
    server.add("hub/model.bin", ckpt.data)
    index = tmp_path / "index.yml"
    result, got = _fetch_via_fallback(cli, index, ckpt, server.url(dead), server.url("hub/model.bin"), tmp_path)
    assert result["file"] == "tresnet_m.miil_in1k.bin" and result["source"] == server.url("hub/model.bin")
    assert len(result["passed_over"]) == 1 and "403" in result["passed_over"][0]
    assert "source 1" in got.err and "dead link" in got.err and "403" in got.err and "trying source 2 of 2" in got.err
    assert (tmp_path / "cache" / "tresnet_m.miil_in1k.bin").read_bytes() == ckpt.data
    # the next fetch finds the second source's file in the cache: no request at all
    server.reset()
    got = cli("--index", index, "--cache-dir", tmp_path / "cache", "fetch", "tresnet_m", "--quiet", "--json")
    assert got.code == 0 and not json.loads(got.out)["results"][0]["downloaded"]
    assert server.hits(dead) == [] and server.hits("hub/model.bin") == []


def test_wrong_bytes_from_the_first_source_are_reported_though_the_second_succeeds(cli, server, checkpoints, tmp_path):
    ckpt = checkpoints["tresnet_m"]
    server.always(ckpt.filename, "wrong_bytes")
    server.add("hub/model2.bin", ckpt.data)
    index = tmp_path / "index.yml"
    index_with_sources(
        index,
        ckpt,
        server.url(ckpt.filename),
        [{"url": server.url("hub/model2.bin"), "file": "second.bin", "size": ckpt.size, "sha256": ckpt.sha256}],
    )
    got = cli("--index", index, "--cache-dir", tmp_path / "cache", "fetch", "tresnet_m", "--quiet", "--json")
    assert got.code == 0, got.text
    errors = [line for line in got.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "source 1" in errors[0] and "sha256" in errors[0] and ckpt.filename in errors[0]
    assert json.loads(got.out)["results"][0]["file"] == "second.bin"
    assert not (tmp_path / "cache" / ckpt.filename).exists()


def test_every_source_failing_names_each(cli, server, checkpoints, tmp_path):
    ckpt = checkpoints["tresnet_m"]
    index = tmp_path / "index.yml"
    index_with_sources(
        index,
        ckpt,
        server.url(f"nowhere/{ckpt.filename}"),
        [{"url": server.url("nowhere/b.bin"), "file": "b.bin", "size": ckpt.size, "sha256": ckpt.sha256}],
    )
    got = cli("--index", index, "--cache-dir", tmp_path / "cache", "fetch", "tresnet_m", "--quiet", "--retries", "0")
    assert got.code == 3  # nothing was wrong with bytes: the sources were unavailable (the environment)
    assert "none of its 2 sources worked" in got.err and "source 1" in got.err and "source 2" in got.err


def test_hf_endpoint_rewrites_hugging_face_urls(cli, server, checkpoints, tmp_path, monkeypatch):
    ckpt = checkpoints["tresnet_m"]
    server.add("hf-mirror/timm/tresnet_m.miil_in1k/resolve/main/model.bin", ckpt.data)
    server.always(f"dead/{ckpt.filename}", "status", code=404)
    monkeypatch.setenv("HF_ENDPOINT", server.url("hf-mirror"))
    index = tmp_path / "index.yml"
    result, _ = _fetch_via_fallback(cli, index, ckpt, server.url(f"dead/{ckpt.filename}"),
                                    "https://huggingface.co/timm/tresnet_m.miil_in1k/resolve/main/model.bin", tmp_path)
    assert result["source"].startswith(server.url("hf-mirror/timm/"))
    from tresnet_zoo.weights.sources import hf_url

    assert hf_url("https://huggingface.co.evil.example/x") == "https://huggingface.co.evil.example/x"


def test_create_model_loads_the_fallback_file_held_to_its_own_hash(server, checkpoints, tmp_path):
    import tresnet_zoo

    primary, other = checkpoints["tresnet_m"], checkpoints["tresnet_m_release"]  # other bytes, same weights
    server.always(f"gone2/{primary.filename}", "status", code=410)
    server.add("hub/release.pth", other.data)
    index = tmp_path / "index.yml"
    index_with_sources(
        index,
        primary,
        server.url(f"gone2/{primary.filename}"),
        [
            {
                "url": server.url("hub/release.pth"),
                "file": "tresnet_m.release.pth",
                "size": other.size,
                "sha256": other.sha256,
            }
        ],
    )
    model = tresnet_zoo.create_model("tresnet_m", pretrained=True, index=index, cache_dir=tmp_path / "cache")
    reference = tresnet_zoo.create_model("tresnet_m", checkpoint_path=_write(tmp_path, other), index=index)
    x = torch.rand(1, 3, 224, 224)
    with torch.inference_mode():
        assert torch.allclose(model(x), reference(x), atol=1e-5)


def _write(folder, ckpt):
    path = folder / ckpt.filename
    path.write_bytes(ckpt.data)
    return path


def _fallback_cached(cli, server, checkpoints, tmp_path, tag: str):
    """An entry whose first source is dead: its second source's file is the one in the cache."""
    ckpt = checkpoints["tresnet_m"]
    server.always(f"{tag}/{ckpt.filename}", "status", code=404)
    server.add(f"hub-{tag}/model.bin", ckpt.data)
    index = tmp_path / "index.yml"
    index_with_sources(index, ckpt, server.url(f"{tag}/{ckpt.filename}"), [
        {"url": server.url(f"hub-{tag}/model.bin"), "file": "tresnet_m.fallback.bin", "size": ckpt.size,
         "sha256": ckpt.sha256},
    ])
    got = cli("--index", index, "--cache-dir", tmp_path / "cache", "fetch", "tresnet_m", "--quiet", "--retries", "0")
    assert got.code == 0, got.text
    return ckpt, index, tmp_path / "cache" / "tresnet_m.fallback.bin"


def test_verify_checks_the_fallback_file_that_loads(cli, server, checkpoints, tmp_path):
    """`verify` (by name, or of everything cached) hashes the file create_model would load, a fallback
    source's, against that source's size and sha256: a same-size change to it is found."""
    ckpt, index, cached = _fallback_cached(cli, server, checkpoints, tmp_path, "v")
    for args in (["verify", "tresnet_m", "--json"], ["verify", "--json"]):
        got = cli("--index", index, "--cache-dir", tmp_path / "cache", *args)
        assert got.code == 0, got.text
        (checked,) = json.loads(got.out)["files"]
        assert checked["file"] == "tresnet_m.fallback.bin" and checked["hashed"] and checked["sha256"] == ckpt.sha256
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    got = cli("--index", index, "--cache-dir", tmp_path / "cache", "verify")
    assert got.code == 1 and "tresnet_m.fallback.bin" in got.err and "sha256" in got.err


def test_verify_repair_fetches_the_fallback_again(cli, server, checkpoints, tmp_path):
    ckpt, index, cached = _fallback_cached(cli, server, checkpoints, tmp_path, "r")
    cached.write_bytes(b"\0" * ckpt.size)
    got = cli("--index", index, "--cache-dir", tmp_path / "cache", "verify", "tresnet_m", "--repair", "--json")
    assert got.code == 0, got.text
    (checked,) = json.loads(got.out)["files"]
    assert checked["repaired"] is True and checked["file"] == "tresnet_m.fallback.bin" and checked["ok"]
    assert cached.read_bytes() == ckpt.data


def test_cache_info_and_clear_know_the_fallback_file(cli, server, checkpoints, tmp_path):
    ckpt, index, cached = _fallback_cached(cli, server, checkpoints, tmp_path, "c")
    got = cli("--index", index, "--cache-dir", tmp_path / "cache", "cache", "info", "--json")
    assert got.code == 0, got.text
    files = {f["file"]: f for f in json.loads(got.out)["files"]}
    assert files["tresnet_m.fallback.bin"]["entry"] == "tresnet_m"
    got = cli("--index", index, "--cache-dir", tmp_path / "cache", "cache", "clear", "tresnet_m")
    assert got.code == 0, got.text
    assert not cached.exists() and "removed 1 file" in got.out


def test_list_and_info_count_the_fallback_file_as_cached(cli, server, checkpoints, tmp_path):
    ckpt, index, cached = _fallback_cached(cli, server, checkpoints, tmp_path, "l")
    got = cli("--index", index, "--cache-dir", tmp_path / "cache", "list", "--json")
    assert got.code == 0 and json.loads(got.out)[0]["cached"] is True, got.text
    got = cli("--index", index, "--cache-dir", tmp_path / "cache", "info", "tresnet_m", "--json")
    info = json.loads(got.out)
    assert info["cached"] is True and info["cache_path"] == str(cached), got.text
