"""Which characters of the data the report's typeface can draw.

The figures (matplotlib) and the PDF's text (reportlab) are set in DejaVu Sans, the TrueType face
matplotlib ships: Latin scripts with their accents, Greek and Cyrillic.  A character it has no
glyph for (Chinese, Japanese, Korean, emoji) is drawn as an empty box in the PNG and TIFF figures
and in the PDF, whose first page says which, by code point (``note``).  The SVG figures keep their
text as text (``svg.fonttype`` none), which a browser draws with its own fonts, falling back as it
does for the HTML's tables: the HTML needs no note.  matplotlib's own warning, which names each
character (a patient id's, in a swimmer plot) on the standard error of a batch log, is not printed
(``quiet_missing_glyphs``)."""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections.abc import Iterable, Iterator
from functools import cache
from importlib.resources import files

FONT_NAME = "DejaVu Sans"
FONT_FILES = {"normal": "DejaVuSans", "bold": "DejaVuSans-Bold", "italic": "DejaVuSans-Oblique",
              "boldItalic": "DejaVuSans-BoldOblique"}
SHOWN = 12           # code points named in a note; the others are counted


def font_path(face: str = "normal") -> str:
    """The TrueType file of a face of DejaVu Sans, from matplotlib's data (no matplotlib import)."""
    return str(files("matplotlib") / "mpl-data" / "fonts" / "ttf" / f"{FONT_FILES[face]}.ttf")


@cache
def drawable() -> frozenset[str]:
    """The characters every face the report uses has a glyph for (their character maps, read by
    FreeType): the bold faces, of titles and table headers, lack a few the regular face has."""
    from matplotlib.ft2font import FT2Font

    maps = [set(FT2Font(font_path(face)).get_charmap()) for face in ("normal", "bold", "boldItalic")]
    return frozenset(map(chr, set.intersection(*maps)))


def undrawable(texts: Iterable[str]) -> list[str]:
    """The characters of ``texts`` without a glyph, sorted; line breaks and tabs are layout."""
    seen: set[str] = set()
    for t in texts:
        seen.update(t)
    return sorted(seen - drawable() - set("\n\r\t"))


def figure_texts(figures) -> Iterator[str]:
    """Every text of the figure specs (``ltfu.results``): titles, labels, lane and group names,
    notes; found in the specs' fields and the tuples within them."""
    def walk(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, (tuple, list)):
            for v in value:
                yield from walk(v)

    for spec in figures:
        for field in dataclasses.fields(spec):
            yield from walk(getattr(spec, field.name))


def note(missing: list[str]) -> str:
    """What the PDF's reader is told: how many characters, their first code points, that they are
    boxes (the PDF is the only output that needs it: module docstring)."""
    shown = ", ".join(f"U+{ord(c):04X}" for c in missing[:SHOWN])
    more = f" and {len(missing) - SHOWN:,} more" if len(missing) > SHOWN else ""
    many = len(missing) != 1
    return (f"{len(missing):,} character{'s' if many else ''} of the data ({shown}{more}) "
            f"{'have' if many else 'has'} no glyph in this PDF's font ({FONT_NAME}) and "
            f"{'are drawn as empty boxes' if many else 'is drawn as an empty box'}: only the drawing is affected, "
            f"not the data or the analysis.")


@contextlib.contextmanager
def quiet_missing_glyphs():
    """matplotlib's "Glyph N (name) missing from font(s)" warnings not printed: they name the
    characters of the data, and the report says which are boxes (``note``)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        yield
