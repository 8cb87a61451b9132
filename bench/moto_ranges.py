"""moto serving a ranged GET in the time of the range, as S3 does, not of the whole object.

moto 5's GetObject reads the whole object into memory and then slices out the requested range, so
each of the 8 MiB ranges boto3's `download_file` fetches in parallel costs a read (and a copy in
memory) of the whole object: a download is quadratic in the object's size (a 400 MB object came down
at 31 MB/s against 107 MB/s for 100 MB), and a multi-GB video cannot be served at all. `patch()`
makes GetObject with a single `bytes=first-last` range read just that range from the object's
buffer (which moto keeps in a temporary file once it is large); everything else is moto's own code.
"""

from __future__ import annotations

import re
import threading
from typing import Any

_RANGE = re.compile(r"bytes=(\d+)-(\d*)")
_state = threading.local()
_patched = False


class _ObjectWindow:
    """An object's bytes read on demand: its length, and a slice read from its buffer."""

    def __init__(self, key: Any) -> None:
        self._key = key

    def __len__(self) -> int:
        return int(self._key.size)

    def __getitem__(self, window: slice) -> bytes:
        start, stop, _ = window.indices(len(self))
        with self._key.lock:
            buffer = self._key._value_buffer
            buffer.seek(start)
            return buffer.read(max(0, stop - start))


def patch() -> None:
    """Make ranged GetObject requests of this process's moto read only their range (idempotent)."""
    global _patched
    if _patched:
        return
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    whole_value = FakeKey.value

    def value(self: Any) -> Any:
        return _ObjectWindow(self) if getattr(_state, "ranged", False) else whole_value.fget(self)

    FakeKey.value = property(value, whole_value.fset)  # type: ignore[method-assign, assignment]
    get_object = S3Response.get_object

    def ranged_get_object(self: Any) -> Any:
        # Only a plain `first-last` or `first-` range: moto's range handling slices the window.
        _state.ranged = bool(_RANGE.fullmatch(self.headers.get("range") or ""))
        try:
            return get_object(self)
        finally:
            _state.ranged = False

    S3Response.get_object = ranged_get_object  # type: ignore[method-assign]
    _patched = True
