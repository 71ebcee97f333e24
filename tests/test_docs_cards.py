"""Model cards show what the index says about each file: a hash beside a link is that file's own hash."""

from __future__ import annotations

import pytest

from tresnet_zoo import load_index
from tresnet_zoo.docs.cards import ModelCard


def _card(entry) -> ModelCard:
    return ModelCard(entry=entry, slug=entry.name, title=entry.name, collection=entry.collection,
                     collection_page="tresnet.md", location=None, verdicts=[], unchecked_reason=None)


def test_the_hash_beside_the_weights_link_is_that_files_own():
    """Three cards showed a Hugging Face file's sha256 beside the GitHub .pth link (another file)."""
    index = load_index()
    seen = 0
    for entry in index:
        card = _card(entry)
        primary = entry.sources[0]
        assert primary.url == entry.weights
        assert card.sha256 == (entry.metadata.sha256 or primary.sha256)
        if card.sha256 is None:
            assert card.hash_prefix == primary.sha256_prefix
        for source, shown in zip(entry.sources[1:], card.sources, strict=True):
            assert shown["sha256"] == source.sha256 and shown["file"] == source.filename
            if source.sha256 and source.sha256 != card.sha256:
                seen += 1  # a further source's hash stays on its own row, never on the primary's
    for name in ("tresnet_m_miil_in21k", "tresnet_m_miil_in21k_ft_in1k", "tresnet_v2_l"):
        card = _card(index.get(name))
        assert card.weights_url.endswith(".pth") and card.sha256 is None and card.hash_prefix
        assert card.hash_prefix in card.filename
    assert seen >= 3


def test_a_fallback_without_any_hash_is_not_usable():
    index = load_index()
    rows = [(e.name, row) for e in index for row in _card(e).sources]
    unpinned = [(n, r) for n, r in rows if not r["sha256"] and not r["prefix"]]
    assert unpinned and all(not r["pinned"] for _, r in unpinned)
    assert all(r["pinned"] for _, r in rows if r["sha256"] or r["prefix"])


@pytest.mark.parametrize("narrow", [True, False])
def test_chart_labels_cover_no_label_marker_or_legend(narrow):
    """At 390 px the in21k_ft_in1k label ran into tresnet_xl_448's marker and label."""
    pytest.importorskip("matplotlib")
    from tresnet_zoo.docs.cards import pareto_front
    from tresnet_zoo.docs.chart import _overlap, accuracy_chart

    entries = [e for e in load_index() if e.top1 is not None]
    points = [(e.name, e.metadata.flops / 1e9, e.top1, e.metadata.image_size) for e in entries]
    front = {e.name for e in entries} - set(pareto_front({e.name: (e.metadata.flops, e.top1) for e in entries}))
    labels, obstacles = accuracy_chart(points, front, None, narrow=narrow)
    assert len(labels) == len({(p[1], p[2]) for p in points})
    for i, box in enumerate(labels):  # obstacles: every marker (its own too) and the legend
        others = [b for j, b in enumerate(labels) if j != i] + obstacles
        assert not any(_overlap(box, other) for other in others), points[i][0]


def test_search_boosts_put_an_exact_name_above_the_names_extending_it():
    """Search matches each word as a prefix, so `tresnet_m` matched every tresnet_m_* card as strongly."""
    from tresnet_zoo.docs.cards import search_boosts

    entries = list(load_index())
    boosts = search_boosts(entries)
    for entry in entries:
        for other in entries:
            if other is not entry and other.name.startswith(entry.name):
                assert boosts[entry.name] > boosts[other.name], (entry.name, other.name)
    assert min(boosts.values()) == 1
