"""The CLI's `fetch` and the API's `tresnet_zoo.fetch` / `create_model` go through one library function
(``api.fetch_checked``): what the CLI reports is what the API returns."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")


def test_cli_fetch_and_api_fetch_share_one_function(cli, zoo, server, checkpoints, monkeypatch):
    import tresnet_zoo
    from tresnet_zoo import api

    calls = []
    real = api.fetch_checked

    def counted(entry, options, *, verify=False):
        calls.append((entry.name, verify))
        return real(entry, options, verify=verify)

    monkeypatch.setattr(api, "fetch_checked", counted)
    got = cli(*zoo.args("fetch", "tresnet_m", "--verify", "--quiet", "--json"))
    assert got.code == 0, got.text
    [record] = json.loads(got.out)["results"]
    path = tresnet_zoo.fetch("tresnet_m", index=zoo.index, cache_dir=zoo.cache, verify=True)
    assert calls == [("tresnet_m", True), ("tresnet_m", True)]
    assert record["path"] == str(path) and record["checks"]["deep"] == "ok"
