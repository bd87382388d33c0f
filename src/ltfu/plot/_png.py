"""The PNG file of an opaque figure: 8-bit RGB, rows unfiltered, deflated by zlib.

Written here rather than by Pillow because Pillow chooses a PNG row filter for every row itself
(adaptively; it has no option to choose none), and for a figure's flat colours and thin lines
filtering does not pay: at 300 dpi the unfiltered file is about a fifth smaller and is made in
half the time (measured on the report's figures: 153 against 196 KiB, 68 against 138 ms).  The
container is the PNG specification's (ISO/IEC 15948): signature, IHDR, pHYs (the dpi, as Pillow
rounds it), tEXt (the metadata), one IDAT, IEND; zlib writes the data and the chunks' CRCs.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
LEVEL = 6                   # zlib's default level, as Pillow's


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def rgb_png(rgba: np.ndarray, dpi: float, text: dict[str, str]) -> bytes | None:
    """The PNG of an h x w x 4 uint8 RGBA array whose alpha is 255 everywhere, as RGB; None when
    a pixel is not opaque or a text is not Latin-1 str (tEXt holds Latin-1 only): then the caller
    writes it as matplotlib does."""
    if not (rgba[..., 3] == 255).all():
        return None
    try:
        texts = [k.encode("latin-1") + b"\x00" + v.encode("latin-1") for k, v in text.items()]
    except (UnicodeEncodeError, AttributeError):       # not Latin-1, or not text (bytes: matplotlib's)
        return None
    h, w = rgba.shape[:2]
    rows = np.empty((h, 1 + 3 * w), np.uint8)          # each row: filter type 0 (none), then R G B ...
    rows[:, 0] = 0
    for c in range(3):      # channel by channel: a quarter of the time of one (h, w, 3) copy (6 against 25 ms)
        rows[:, 1 + c::3] = rgba[..., c]
    ppm = int(dpi / 0.0254 + 0.5)                       # pixels per metre, rounded as Pillow rounds them
    return b"".join([SIGNATURE, _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)),
                     _chunk(b"pHYs", struct.pack(">IIB", ppm, ppm, 1)),
                     *(_chunk(b"tEXt", t) for t in texts),
                     _chunk(b"IDAT", zlib.compress(rows.data, LEVEL)), _chunk(b"IEND", b"")])
