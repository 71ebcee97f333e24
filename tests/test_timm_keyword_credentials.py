"""A URL given to `create_model` through timm's keywords (``pretrained_cfg`` / ``pretrained_cfg_overlay``
``url``) that no entry publishes is refused without printing its password. Found by attack: the refusal
quoted the URL as given, credentials and all."""

from __future__ import annotations

import pytest

import tresnet_zoo
from tresnet_zoo.errors import UsageError


@pytest.mark.hostile
@pytest.mark.parametrize("keyword", ["pretrained_cfg", "pretrained_cfg_overlay"])
def test_an_unpublished_url_with_credentials_is_refused_without_them(keyword):
    url = "https://alice:s3cr3t-pw@weights.example/tresnet_m.pth"
    with pytest.raises(UsageError) as caught:
        tresnet_zoo.create_model("tresnet_m", pretrained=True, **{keyword: {"url": url}})
    text = f"{caught.value} {caught.value.hint or ''}"
    assert "weights.example/tresnet_m.pth" in text
    assert "s3cr3t-pw" not in text and "alice" not in text
