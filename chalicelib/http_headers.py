"""Response headers every certmint server sends, the API and the local console.

Kept apart from ``app.py`` so the local stack can use them without importing
the Chalice app, which reads its environment at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Every response of ours carries these (docs/api.md, "Conventions"). Two years
# of HSTS with includeSubDomains and preload is what hstspreload.org requires.
# Read-only, since the API and the local servers share this one object.
SECURITY_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "Strict-Transport-Security": "max-age=63072000; includeSubDomains; preload",
        "X-Content-Type-Options": "nosniff",
    }
)
