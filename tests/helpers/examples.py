"""How many examples a hypothesis test draws: its own default, kept small so the default run stays quick, or
``TRESNET_ZOO_PROPERTY_EXAMPLES`` for a longer hunt (.ci/run hunts with more)."""

from __future__ import annotations

import os


def examples(default: int) -> int:
    return int(os.environ.get("TRESNET_ZOO_PROPERTY_EXAMPLES", default))
