"""tresnet-zoo: a checked model-index registry and weight cache for the TResNet image classifiers.

Ridnik et al., "TResNet: High Performance GPU-Dedicated Architecture", WACV 2021 (arXiv:2003.13630).

The public API is re-exported here; torch is imported only by the functions that build models or load
weights, so that reading and validating an index stays fast.
"""

from __future__ import annotations

import logging as _logging

from ._version import __version__
from .api import create_model, fetch, list_models, list_pretrained
from .errors import (
    CacheError,
    CheckFailedError,
    CheckpointError,
    DownloadError,
    FixError,
    IndexNotFoundError,
    IndexNotWritableError,
    IntegrityError,
    InvalidIndexError,
    MissingDependencyError,
    OfflineError,
    UnknownModelError,
    UnsafeCheckpointError,
    UsageError,
    ZooEnvironmentError,
    ZooError,
)
from .index import Index, Metadata, ModelEntry, load_index
from .models.labels import Labels, labels_for

# The library reports through logging and never writes to stderr itself: without this, Python's last-resort
# handler would print our warnings; an application (or our CLI) chooses where they go.
_logging.getLogger("tresnet_zoo").addHandler(_logging.NullHandler())

__all__ = [
    "__version__",
    "load_index",
    "list_models",
    "list_pretrained",
    "create_model",
    "labels_for",
    "Labels",
    "fetch",
    "Index",
    "Metadata",
    "ModelEntry",
    "ZooError",
    "UsageError",
    "IndexNotFoundError",
    "UnknownModelError",
    "InvalidIndexError",
    "CheckFailedError",
    "CheckpointError",
    "UnsafeCheckpointError",
    "DownloadError",
    "IntegrityError",
    "OfflineError",
    "CacheError",
    "MissingDependencyError",
    "ZooEnvironmentError",
    "FixError",
    "IndexNotWritableError",
]

