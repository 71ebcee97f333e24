"""Weight-file names that the cache reserves (its own folders, the mirror manifest): refused by validate and
unreachable through fetch. Found by an audit of the defect classes the earlier fixes missed."""

from __future__ import annotations

import pytest

from .helpers.indexes import zoo_index_text

pytestmark = pytest.mark.hostile  # each case was found by attacking the code (see the docstrings)

# --- issue 8: validation applies the cache's file-name rules, including the names the cache uses itself ---


@pytest.mark.parametrize("name", ["records", "locks", "validated", "Records", "tresnet-zoo-manifest.json"])
def test_a_weights_file_named_like_a_cache_folder_or_the_manifest_fails_validate(cli, write, name):
    """A Weights URL ending in /records (or locks, validated) passed validate; fetch then met the cache's
    own records/ folder ('a folder stands where a file should be', exit 3: blamed on the environment) and
    verify called the folder a bad file and suggested --repair, which cannot help. A file named like the
    mirror manifest would be overwritten by it in `mirror push`."""
    sha = "a" * 64
    index = write("index.yml", f"""
        Models:
        - Name: tresnet_m
          Metadata:
            Parameters: 31389032
            File Size: 1000
            SHA256: {sha}
          Weights: https://h.example/w/{name}
        """)
    got = cli("--index", index, "validate")
    assert got.code == 1, got.text
    assert "tresnet-zoo uses that name itself" in got.text, got.text
    source = write("source.yml", f"""
        Models:
        - Name: tresnet_m
          Metadata:
            Parameters: 31389032
            File Size: 1000
            x-tresnet-zoo:
              sources:
              - url: https://h.example/model.safetensors
                file: {name}
          Weights: https://h.example/w/tresnet_m-{sha[:8]}.pth
        """)
    got = cli("--index", source, "validate")
    assert got.code == 1 and "tresnet-zoo uses that name itself" in got.text, got.text


def test_reserved_names_reach_no_cache_folder_through_fetch(cli, zoo, checkpoints, server):
    """The same index through fetch: one clean data error (exit 1), nothing written into records/."""
    ckpt = checkpoints["tresnet_m"]
    server.add("records", ckpt.data)
    zoo.index.write_text(zoo_index_text(checkpoints, server.url("/"),
                                        tresnet_m={"filename": "records", "sha256": ckpt.sha256}))
    got = cli(*zoo.args("fetch", "tresnet_m"))
    assert got.code == 1, got.text
    assert not (zoo.cache / "records").is_file()


# --- issue 9: user:password@ in a URL is redacted everywhere, also where the index is shown ----------------



# --- issue 9: our own records are parsed strictly; anything unexpected is foreign, never a crash -----------

