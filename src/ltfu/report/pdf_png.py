"""A figure's PNG placed in the PDF as it is: its compressed pixel data become the image's stream.

A PDF image may be Flate-compressed with the PNG row filters as its predictor (ISO 32000-1,
7.4.4.4: /DecodeParms << /Predictor 15 /Colors 3 /BitsPerComponent 8 /Columns width >>), which is
exactly how an 8-bit RGB, non-interlaced PNG stores its pixels (its IDAT chunks joined).  So the
PNG drawn for the report needs no decoding and no compressing again: reportlab's own
``Image`` did both for every figure, about two thirds of the PDF's time at 1e6 patients.  The
pixels a reader shows are the PNG's (tested with poppler's pdfimages).  A PNG of any other kind
(alpha, palette, interlaced) goes through reportlab's ``Image`` as before.

reportlab has no public call for an image stream made elsewhere, so ``PngFigure.draw`` registers
the image as ``Canvas.drawImage`` does (reportlab 4: the document's XObject names and forms).
"""

from __future__ import annotations

import hashlib
import struct

from reportlab.pdfbase import pdfdoc
from reportlab.platypus import Flowable

from ltfu.plot._png import SIGNATURE as PNG_SIGNATURE


def rgb_stream(png: bytes) -> tuple[int, int, bytes] | None:
    """(width, height, the joined IDAT data) of an 8-bit RGB, non-interlaced PNG; None for any
    other PNG (or bytes that are not a whole PNG)."""
    if not png.startswith(PNG_SIGNATURE):
        return None
    pos, size, chunks = len(PNG_SIGNATURE), None, []
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + length]
        if len(data) != length:
            return None
        if kind == b"IHDR":
            width, height, depth, colour, method, filtering, interlace = struct.unpack(">IIBBBBB", data)
            if (depth, colour, method, filtering, interlace) != (8, 2, 0, 0, 0):
                return None
            size = (width, height)
        elif kind == b"IDAT":
            chunks.append(data)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if size is None or not chunks:
        return None
    return size[0], size[1], b"".join(chunks)


class _PngXObject(pdfdoc.PDFImageXObject):
    """An image XObject whose stream is a PNG's IDAT data, decoded by the PNG predictors."""

    def __init__(self, name: str, width: int, height: int, data: bytes):
        self.name, self.width, self.height = name, width, height
        self.bitsPerComponent, self.colorSpace, self.mask = 8, "DeviceRGB", None
        self._filters = ("FlateDecode",)
        self.streamContent = data

    def format(self, document):
        stream = pdfdoc.PDFStream(content=self.streamContent)
        d = stream.dictionary
        d["Type"], d["Subtype"] = pdfdoc.PDFName("XObject"), pdfdoc.PDFName("Image")
        d["Width"], d["Height"] = self.width, self.height
        d["BitsPerComponent"], d["ColorSpace"] = 8, pdfdoc.PDFName("DeviceRGB")
        # one filter, so one parameter dictionary (with a /Filter array, poppler ignores a lone one)
        d["Filter"] = pdfdoc.PDFName("FlateDecode")
        d["DecodeParms"] = pdfdoc.PDFDictionary({"Predictor": 15, "Colors": 3, "BitsPerComponent": 8,
                                                 "Columns": self.width})
        return stream.format(document)


class PngFigure(Flowable):
    """A figure's RGB PNG (``rgb_stream``) drawn ``width`` x ``height`` points, centred as
    reportlab's ``Image`` is."""

    def __init__(self, stream: tuple[int, int, bytes], width: float, height: float):
        super().__init__()
        self.stream = stream
        self.drawWidth, self.drawHeight = width, height
        self.hAlign = "CENTER"

    def wrap(self, availWidth, availHeight):
        return self.drawWidth, self.drawHeight

    def draw(self):
        canv = self.canv
        w_px, h_px, data = self.stream
        digest = hashlib.blake2b(data, digest_size=16)
        digest.update(b"%dx%d" % (w_px, h_px))               # the same rows could be cut another way
        name = "png" + digest.hexdigest()
        reg = canv._doc.getXObjectName(name)
        if canv._doc.idToObject.get(reg) is None:           # the same figure twice: stored once
            obj = _PngXObject(name, w_px, h_px, data)
            canv._setXObjects(obj)
            canv._doc.Reference(obj, reg)
            canv._doc.addForm(name, obj)
        canv._currentPageHasImages = 1
        canv.saveState()
        canv.scale(self.drawWidth, self.drawHeight)
        canv._code.append(f"/{reg} Do")
        canv.restoreState()
        canv._formsinuse.append(name)

