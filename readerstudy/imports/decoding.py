"""Which transfer syntaxes the import can decode, and the lossy compression history they imply.

Pixel data are decoded by pydicom with the codec plugins this project declares (pyproject.toml):
``pylibjpeg`` with ``pylibjpeg-libjpeg`` (JPEG baseline/extended/lossless, JPEG-LS),
``pylibjpeg-openjpeg`` (JPEG 2000 and HTJ2K) and ``pylibjpeg-rle`` (a faster RLE; pydicom has its
own). Native syntaxes (implicit/explicit VR, big endian, deflate) need no plugin. A syntax no
installed plugin decodes is refused before anything is read further, naming the syntax and the
packages that would decode it.
"""

from __future__ import annotations

from pydicom.pixels import get_decoder
from pydicom.uid import (
    HTJ2K,
    UID,
    JPEG2000,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLSNearLossless,
)

# The packages that would decode a syntax, in the order we recommend them (the first is the one
# this project declares). Syntaxes pydicom cannot decode at all are not listed.
PACKAGES_BY_SYNTAX_PREFIX: tuple[tuple[str, str], ...] = (
    ("1.2.840.10008.1.2.4.5", "pylibjpeg + pylibjpeg-libjpeg (or python-gdcm)"),  # JPEG baseline/extended
    ("1.2.840.10008.1.2.4.57", "pylibjpeg + pylibjpeg-libjpeg (or python-gdcm)"),  # JPEG lossless
    ("1.2.840.10008.1.2.4.70", "pylibjpeg + pylibjpeg-libjpeg (or python-gdcm)"),
    ("1.2.840.10008.1.2.4.8", "pylibjpeg + pylibjpeg-libjpeg (or pyjpegls, python-gdcm)"),  # JPEG-LS
    ("1.2.840.10008.1.2.4.9", "pylibjpeg + pylibjpeg-openjpeg (or python-gdcm)"),  # JPEG 2000
    ("1.2.840.10008.1.2.4.20", "pylibjpeg + pylibjpeg-openjpeg"),  # HTJ2K
    ("1.2.840.10008.1.2.5", "pydicom's own RLE decoder (or pylibjpeg-rle)"),
)

# Syntaxes whose codestream may be lossy, with the LossyImageCompressionMethod code (PS3.3
# C.7.6.1.1.5.1). JPEG 2000 (4.91) and HTJ2K (4.203) may also be lossless; the source's own
# LossyImageCompression decides then.
LOSSY_METHOD_BY_SYNTAX: dict[str, str] = {
    JPEGBaseline8Bit: "ISO_10918_1",
    JPEGExtended12Bit: "ISO_10918_1",
    JPEGLSNearLossless: "ISO_14495_1",
    JPEG2000: "ISO_15444_1",
    HTJ2K: "ISO_15444_15",
}
ALWAYS_LOSSY = {JPEGBaseline8Bit, JPEGExtended12Bit}


def packages_for(syntax: str) -> str:
    for prefix, packages in PACKAGES_BY_SYNTAX_PREFIX:
        if syntax.startswith(prefix):
            return packages
    return ""


def transfer_syntax_problem(syntax: str) -> str | None:
    """Why pixel data in ``syntax`` cannot be decoded here, or None when an installed codec can."""
    uid = UID(syntax)
    label = f"{uid.name} ({uid})" if uid.is_transfer_syntax else f"{uid}"
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        return f"transfer syntax {label} cannot be decoded: pydicom has no decoder for it; export uncompressed or lossless JPEG"
    if decoder.is_available:
        return None
    packages = packages_for(str(uid)) or ", ".join(decoder.missing_dependencies)
    return f"transfer syntax {label} cannot be decoded: no codec for it is installed; install {packages}"
