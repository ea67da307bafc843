"""Pictures read upright with what describes them, and written with it: a phone's photo in, the same photo out.

Pixels are held as OpenCV holds them (H x W grey, H x W x 3 BGR, H x W x 4 BGRA; uint8 or uint16). OpenCV reads
and writes PNG, JPEG, WebP, TIFF and BMP, with their EXIF, ICC profile and XMP where it can (PNG, JPEG, WebP,
AVIF). HEIC and HEIF (iPhones' photos) are read and written by libheif (pillow-heif), AVIF read by libavif
(Pillow) and written by OpenCV's: a phone's photo is a grid of tiles with its rotation beside them, which FFmpeg
gives as separate tile streams (one tile would run) and OpenCV does not read, or reads sideways.

A photo is turned upright as it is shown (EXIF's orientation, a TIFF's own; HEIF's and AVIF's rotation and
mirror), and its EXIF then says so (stream.exif); the ICC profile (Display P3 on phones: without it colours
shift) and XMP are written unchanged. What OpenCV 5.1 does not carry is read and written here, as kinds of our
own beside OpenCV's: a TIFF's orientation, profile and XMP (read_tiff), a JPEG's XMP and what follows its
picture (stream.jpeg_extras), a PNG's text and colour chunks (stream.png_text), a HEIF's nclx; what an output
cannot hold is named (dropped).
"""

from __future__ import annotations

import math
import re
from contextlib import nullcontext
from pathlib import Path

import cv2
import numpy as np

from kernels.errors import reason
from stream import heif_boxes, jpeg_extras, png_text
from stream.console import counted, native_stderr_silenced, opencv_silenced
from stream.errors import UserError
from stream.exif import EXTRA_SAMPLES, ICC_PROFILE, ORIENTATION, UNASSOCIATED_ALPHA, XMP_PACKET, Exif, upright
from stream.files import JPEG_SUFFIXES, opencv_name

EXIF, XMP, ICC = cv2.IMAGE_METADATA_EXIF, cv2.IMAGE_METADATA_XMP, cv2.IMAGE_METADATA_ICCP
Metadata = dict[int, bytes]  # OpenCV's kinds (IMAGE_METADATA_*) -> their bytes
CARRIES_METADATA = {".png", *JPEG_SUFFIXES, ".webp", ".avif", ".heic", ".heif"}  # where it is written
TRAILER = -1  # not OpenCV's: the bytes after a JPEG's picture (a motion photo's video, an HDR gain map)
MPF = -2  # not OpenCV's: a JPEG's MPF, where the trailer's images are (stream.jpeg_extras.read_mpf)
NCLX = -3  # not OpenCV's: a HEIF's colour description, its nclx (4 bytes: NCLX_FIELDS)
TEXT = -4  # not OpenCV's: a PNG's text chunks (stream.png_text)
CAPTIONS = -5  # not OpenCV's: a JPEG's IPTC and comment segments (stream.jpeg_extras.read_captions)
EXTENDED_XMP = -6  # not OpenCV's: a JPEG's Extended XMP segments (stream.jpeg_extras.read_extended_xmp)
AUXILIARY = -7  # not OpenCV's: a HEIF's auxiliary images, their types (auxC URNs) a line each; written nowhere
PNG_COLOUR = -8  # not OpenCV's: a PNG's colour chunks and resolution (stream.png_text.read_colour)
DENSITY = -9  # not OpenCV's: a JPEG's resolution in its JFIF header (stream.jpeg_extras.read_density); lost unsaid
OTHER_PICTURES = -10  # not OpenCV's: the pictures a file holds beside the one read, in words; written nowhere
# The auxiliary images phones write, in words: an iPhone's HDR gain map (on every photo since the iPhone 12), which
# an HDR screen shows its highlights by, and a portrait's depth; Apple's portrait mattes and others are said as such
AUXILIARY_NAMES = {
    b"urn:com:apple:photo:2020:aux:hdrgainmap": "HDR gain map",
    b"urn:mpeg:hevc:2015:auxid:2": "depth map",
    b"urn:mpeg:mpegB:cicp:systems:auxiliary:depth": "depth map",
}
NCLX_FIELDS = ("color_primaries", "transfer_characteristics", "matrix_coefficients", "full_range_flag")
METADATA_NAMES = {
    EXIF: "EXIF", ICC: "ICC profile", XMP: "XMP", TRAILER: "motion photo video or HDR gain map",
    NCLX: "HEIF colour description", TEXT: "PNG text", CAPTIONS: "IPTC and comment", EXTENDED_XMP: "Extended XMP",
}  # fmt: skip
HEIC_SUFFIXES = {".heic", ".heif"}  # written by libheif
# kinds one format alone holds (or none)
CARRIED_BY = {TRAILER: JPEG_SUFFIXES, CAPTIONS: JPEG_SUFFIXES, EXTENDED_XMP: JPEG_SUFFIXES, NCLX: HEIC_SUFFIXES,
              TEXT: {".png"}, PNG_COLOUR: {".png"}, DENSITY: JPEG_SUFFIXES, AUXILIARY: set(),
              OTHER_PICTURES: set()}  # fmt: skip
# The longest side each kind written here holds (libjpeg's 65500, WebP's 14 bits, AV1's 16): a larger picture is
# refused before its model time, where OpenCV refused it once restored ("cannot write this image format", after
# minutes of a panorama's work)
LONGEST_SIDE = {**dict.fromkeys(JPEG_SUFFIXES, ("JPEG", 65500)), ".webp": ("WebP", 16383), ".avif": ("AVIF", 65536)}
EIGHT_BIT_SUFFIXES = {*JPEG_SUFFIXES, ".webp", ".bmp", ".avif"}  # 16-bit pictures are written at 8 bits there
# PNG, TIFF, BMP and (OpenCV's default) WebP are written losslessly; JPEG at quality 95, AVIF at OpenCV's 95,
# HEIC at 90 (x265; libheif's default, 50, blurs what DRRN restored).
_WRITE_OPTIONS = {".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95]}  # by the extension OpenCV is given (ENCODED_AS)
ENCODED_AS = dict.fromkeys(JPEG_SUFFIXES, ".jpg")  # OpenCV knows .jfif by no name
HEIC_QUALITY = 90
_XMP_ORIENTATION = re.compile(rb'(tiff:Orientation(?:="|>))[1-8]')


def read_picture(path: Path) -> tuple[np.ndarray, Metadata]:
    """A picture's pixels, upright, and its metadata (its EXIF as stored: write_picture says it is upright)."""
    suffix = path.suffix.lower()
    if suffix in HEIC_SUFFIXES:
        return read_heif(path)
    if suffix == ".avif":
        return read_avif(path)
    if suffix in (".tif", ".tiff"):
        return read_tiff(path)
    data = path.read_bytes() if suffix in {*JPEG_SUFFIXES, ".png"} else b""  # for what OpenCV does not read
    cut = suffix in JPEG_SUFFIXES and jpeg_extras.cut_short(data)  # said by damage(), libjpeg's own line kept off
    with opencv_silenced(), native_stderr_silenced() if cut else nullcontext(), opencv_name(path) as name:
        # by name, not from the bytes: imdecode refuses a JPEG cut short
        pixels, kinds, chunks = cv2.imreadWithMetadata(name, flags=cv2.IMREAD_UNCHANGED)
    metadata = {int(kind): bytes(chunk) for kind, chunk in zip(kinds, chunks, strict=True)}
    if XMP in metadata:  # a PNG's comes with a C string's NUL
        metadata[XMP] = metadata[XMP].rstrip(b"\0")
    if suffix in JPEG_SUFFIXES:
        metadata |= jpeg_metadata(data)
    if suffix == ".png" and (text := png_text.read_text(data)):
        metadata[TEXT] = text
    if suffix == ".png" and (colour := png_text.read_colour(data)):
        metadata[PNG_COLOUR] = colour
    if suffix == ".png" and EXIF not in metadata and (exif := png_text.read_raw_exif(data)):
        metadata[EXIF] = exif  # ImageMagick's, as text: its orientation counts, and it is carried as eXIf
    pixels = checked(pixels, path)
    if suffix == ".png" and pixels.ndim == 2 and (key := png_text.grey_transparent_code(data)) is not None:
        opaque = np.iinfo(pixels.dtype).max
        pixels = np.dstack([pixels] * 3 + [np.where(pixels == key, 0, opaque).astype(pixels.dtype)])  # as grey+alpha
    return upright(pixels, Exif(metadata.get(EXIF, b"")).orientation), metadata


def jpeg_metadata(data: bytes) -> Metadata:
    """What OpenCV does not read of a JPEG (stream.jpeg_extras): its XMP and Extended XMP, IPTC and comment, what
    follows its picture and the MPF that says where that is."""
    found = {XMP: jpeg_extras.read_xmp(data), EXTENDED_XMP: jpeg_extras.read_extended_xmp(data),
             TRAILER: jpeg_extras.trailer(data), MPF: jpeg_extras.read_mpf(data),
             CAPTIONS: jpeg_extras.read_captions(data), DENSITY: jpeg_extras.read_density(data)}  # fmt: skip
    return {kind: value for kind, value in found.items() if value}


def damage(path: Path) -> str:
    """What was decoded past in a picture, in words ("" for nothing): a JPEG whose data ends before its picture does
    (OpenCV's libjpeg decodes what is there, the rest grey, as viewers show it); damage elsewhere is not read."""
    cut = path.suffix.lower() in JPEG_SUFFIXES and jpeg_extras.cut_short(path.read_bytes())
    return "its data ends before the picture does (decoded past: the rest is grey)" if cut else ""


def depth_held_back(path: Path) -> str:
    """What a picture's reader holds back of its depth, in words ("" for nothing): an AVIF of 10 or 12 bits (a
    camera's or an HDR export) is read at 8 by Pillow, whose modes hold no more."""
    if path.suffix.lower() != ".avif":
        return ""
    with open(path, "rb") as f:
        bits = heif_boxes.bit_depth(f)
    return f"its {bits}-bit samples are read at 8 bits (the AVIF reader holds no more)" if bits > 8 else ""


def checked(pixels: np.ndarray | None, path: Path) -> np.ndarray:
    """What OpenCV read, or the one-line error that it read nothing usable."""
    if pixels is None or pixels.dtype not in (np.uint8, np.uint16):
        raise UserError(f"{path}: not a readable 8- or 16-bit image")
    return pixels


def read_tiff(path: Path) -> tuple[np.ndarray, Metadata]:
    """A TIFF (its first page) by OpenCV's libtiff, its orientation, ICC profile and XMP read from its own tags (a
    TIFF's header and first directory are what EXIF is). OpenCV 5.1 reads none of them, and fails on any
    orientation but 1 ("original_ptr == real_mat.data"): the tag is set to 1 in a copy it decodes, and applied
    here; in that copy an alpha is unnamed too, read as stored, not multiplied into the colour. Its camera tags (an
    Exif directory) are not carried."""
    tiff = Exif(path.read_bytes())  # a BigTIFF's tags are not read: it goes to OpenCV as it is
    orientation = tiff.orientation
    tiff.set(ORIENTATION, 1)
    if tiff.value(EXTRA_SAMPLES) == UNASSOCIATED_ALPHA:  # libtiff's RGBA reading multiplies the colour by it (8 bits)
        tiff.set(EXTRA_SAMPLES, 0)  # an unnamed 4th sample, read as stored: the alpha Pillow and Photoshop wrote
    with opencv_silenced():
        pixels = cv2.imdecode(np.frombuffer(tiff.data, np.uint8), cv2.IMREAD_UNCHANGED)
    pages = tiff.later_pages()  # (OpenCV reads the first)
    found = {ICC: tiff.raw(ICC_PROFILE), XMP: tiff.raw(XMP_PACKET),
             OTHER_PICTURES: counted(pages, "other page").encode() if pages else None}  # fmt: skip
    return upright(checked(pixels, path), orientation), {kind: data for kind, data in found.items() if data}


def read_heif(path: Path) -> tuple[np.ndarray, Metadata]:
    """HEIC/HEIF by libheif: its primary image whole (a grid's tiles joined), turned by its own transforms
    (which, not EXIF's orientation, say how it is shown), at its bit depth (10 bits as 16)."""
    import pillow_heif

    try:
        heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=False, bgr_mode=True)
        pixels = np.asarray(heif)
    except (ValueError, RuntimeError, OSError) as e:
        raise UserError(f"{path}: not a readable HEIF picture ({reason(e)})") from None
    metadata = pillow_metadata(heif.info)
    if len(heif) > 1:  # top-level images beside the primary one (a burst, a collection): a photo's are none
        metadata[OTHER_PICTURES] = counted(len(heif) - 1, "other image").encode()
    depth = [b"urn:mpeg:hevc:2015:auxid:2"] if heif.info.get("depth_images") else []  # libheif lists depth apart
    if kinds := sorted({*(urn.encode() for urn in heif.info.get("aux") or {}), *depth}):
        metadata[AUXILIARY] = b"\n".join(kinds)
    return pixels.reshape(pixels.shape[:2]) if heif.mode == "L" else pixels, metadata


def auxiliary_named(kinds: bytes) -> str:
    """A HEIF's auxiliary images (AUXILIARY), in words: "HDR gain map", "depth map", "auxiliary images"."""
    named = [AUXILIARY_NAMES.get(kind, "auxiliary images") for kind in kinds.split(b"\n")]
    return " and ".join(dict.fromkeys(named))


def read_avif(path: Path) -> tuple[np.ndarray, Metadata]:
    """AVIF by libavif (Pillow): a grid's tiles joined; its rotation and mirror (irot, imir) come as EXIF's
    orientation, applied here. 8 bits (Pillow's modes hold no more); its nclx read from its boxes."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            mode = {"L": "L", "LA": "RGBA", "RGBA": "RGBA"}.get(image.mode, "RGB")
            rgb, info = np.asarray(image.convert(mode)), image.info
    except (UnidentifiedImageError, SyntaxError, ValueError, OSError) as e:  # SyntaxError: Pillow's damaged data
        raise UserError(f"{path}: not a readable AVIF picture ({reason(e)})") from None
    pixels = rgb if mode == "L" else cv2.cvtColor(rgb, cv2.COLOR_RGBA2BGRA if mode == "RGBA" else cv2.COLOR_RGB2BGR)
    metadata = pillow_metadata(info)
    with open(path, "rb") as f:
        if colour := heif_boxes.nclx(f):  # which Pillow does not say
            metadata[NCLX] = colour
    return upright(pixels, Exif(metadata.get(EXIF, b"")).orientation), metadata


def pillow_metadata(info: dict) -> Metadata:
    """What Pillow and pillow-heif put in an image's info, as OpenCV's kinds (and NCLX)."""
    nclx = [(info.get("nclx_profile") or {}).get(field, -1) for field in NCLX_FIELDS]
    found = {EXIF: info.get("exif"), ICC: info.get("icc_profile"), XMP: info.get("xmp"),
             NCLX: bytes(nclx) if all(0 <= value < 256 for value in nclx) else None}  # fmt: skip
    return {kind: bytes(data) for kind, data in found.items() if data}


def shown_as_srgb(nclx: bytes) -> bool:
    """Whether a HEIF's nclx says what a picture without one is taken to be: BT.709 primaries (or unsaid), and
    sRGB's or BT.709's transfer (or unsaid). Else (Display P3's primaries, HLG, PQ) it must travel with the pixels."""
    return nclx[0] in (1, 2) and nclx[1] in (1, 2, 6, 13)


def profile_fits(icc: bytes, pixels: np.ndarray) -> bool:
    """Whether an ICC profile's colour space (bytes 16-19) is these pixels': grey for one channel, else RGB (a grey
    picture with alpha is written as RGBA, OpenCV's writers having no grey with alpha)."""
    return icc[16:20] == (b"GRAY" if pixels.ndim == 2 else b"RGB ")


def upright_metadata(metadata: Metadata, pixels: np.ndarray) -> Metadata:
    """The metadata of a picture now upright and of these pixels' size: EXIF's and XMP's orientation 1, EXIF's
    size, no EXIF thumbnail (stream.exif); no ICC profile for other pixels than these (a CMYK JPEG's: OpenCV gives
    its pixels as BGR, and PNG's writer refused the profile, failing the run)."""
    out = dict(metadata)
    if ICC in out and not profile_fits(out[ICC], pixels):
        del out[ICC]
    if EXIF in out:
        out[EXIF] = Exif(out[EXIF]).for_upright(pixels.shape[1], pixels.shape[0])
    if XMP in out:
        out[XMP] = _XMP_ORIENTATION.sub(rb"\g<1>1", out[XMP])
    return out


def eight_bit(image: np.ndarray) -> np.ndarray:
    """16-bit codes scaled to 8 bits, rounded (OpenCV's own conversion would clip, not scale); 8-bit as it is.
    In integers: x / 257 rounds up exactly when x % 257 > 128, and float64 took 8 bytes a sample."""
    return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8) if image.dtype == np.uint16 else image


def holds_alpha(path: Path) -> bool:
    """Whether a picture of this name keeps transparency: every kind written here but JPEG."""
    return path.suffix.lower() not in JPEG_SUFFIXES


def dropped(path: Path, metadata: Metadata, pixels: np.ndarray, alpha: bool = False) -> list[str]:
    """What of a picture (its transparency, where it has `alpha`; its depth) and its metadata is lost written into
    `path` as `pixels`: JPEG holds no alpha (what it hid shows), JPEG, WebP, BMP and AVIF are written at 8 bits,
    TIFF and BMP get the pixels alone (OpenCV writes no metadata there; without its ICC profile a photo's colours
    shift in colour-managed viewers), some kinds one format alone holds (CARRIED_BY), and an ICC profile is for
    pixels of its own colour space (a CMYK JPEG's, a grey one's where alpha makes the output RGBA)."""
    suffix = path.suffix.lower()
    transparency = ["transparency"] if alpha and not holds_alpha(path) else []
    depth = ["16-bit depth"] if pixels.dtype == np.uint16 and suffix in EIGHT_BIT_SUFFIXES else []
    lost = {kind for kind in metadata if suffix not in CARRIED_BY.get(kind, CARRIES_METADATA)}
    unfit = ICC in metadata and not profile_fits(metadata[ICC], pixels)
    lost |= {ICC} if unfit else set()
    if suffix in JPEG_SUFFIXES and len(metadata.get(XMP, b"")) > jpeg_extras.ROOM:
        lost.add(XMP)  # more than a segment holds: Extended XMP is not written
    if NCLX in lost and (ICC in metadata or shown_as_srgb(metadata[NCLX])):
        lost.remove(NCLX)  # its ICC profile says more, or a picture without it is shown as it says
    named = {**METADATA_NAMES, CAPTIONS: jpeg_extras.captions_named(metadata.get(CAPTIONS, b"")),
             AUXILIARY: auxiliary_named(metadata.get(AUXILIARY, b"")),
             PNG_COLOUR: png_text.colour_named(metadata.get(PNG_COLOUR, b"")),
             OTHER_PICTURES: metadata.get(OTHER_PICTURES, b"").decode()}  # fmt: skip
    if unfit:  # a CMYK or GRAY one
        named[ICC] = f"{metadata[ICC][16:20].decode('latin-1').strip()} ICC profile"
    return transparency + depth + [name for kind, name in named.items() if kind in lost and name]


def check_side(path: Path, width: int, height: int) -> None:
    """A picture of `width` x `height` is one a file of this name holds; else a one-line error naming what does."""
    kind, longest = LONGEST_SIDE.get(path.suffix.lower(), ("", math.inf))
    if max(width, height) > longest:
        raise UserError(f"{path}: a {width}x{height} picture; {kind} holds at most {longest} pixels a side (.png, .tif "
                        "or .heic hold it)")  # fmt: skip


def write_picture(path: Path, pixels: np.ndarray, metadata: Metadata, target: Path | None = None) -> None:
    """`pixels` (upright) into `path`, in the format its name says, with the metadata where the format holds it;
    `target`: what errors name (the output, where `path` is its partial file)."""
    suffix = path.suffix.lower()
    pixels = eight_bit(pixels) if suffix in EIGHT_BIT_SUFFIXES else pixels
    metadata = upright_metadata(metadata, pixels) if suffix in CARRIES_METADATA else {}
    if suffix in HEIC_SUFFIXES:
        write_heif(path, pixels, metadata, target)
        return
    # OpenCV writes no XMP into JPEG, and into PNG a Latin-1 tEXt, which Pillow reads as no XMP (and Zoë as ZoÃ«)
    xmp = metadata.pop(XMP, b"") if suffix in {*JPEG_SUFFIXES, ".png"} else b""
    kinds = [kind for kind in metadata if kind >= 0]  # OpenCV's own
    chunks = [np.frombuffer(metadata[kind], np.uint8) for kind in kinds]
    encoded_as = ENCODED_AS.get(suffix, suffix)
    try:
        with opencv_silenced():  # its own lines: the one below says why
            options = _WRITE_OPTIONS.get(encoded_as, [])
            done, buffer = cv2.imencodeWithMetadata(encoded_as, pixels, kinds, chunks, options)
    except cv2.error:
        done = False
    if not done:
        raise UserError(f"{target or path}: cannot write this image format")
    if suffix in JPEG_SUFFIXES and (xmp or {TRAILER, CAPTIONS, EXTENDED_XMP, DENSITY} & set(metadata)):
        path.write_bytes(jpeg_with_extras(buffer.tobytes(), xmp, metadata))
    elif suffix in (".tif", ".tiff") and pixels.ndim == 3 and pixels.shape[2] == 4:  # OpenCV says not what the 4th is
        path.write_bytes(Exif(buffer.tobytes()).with_short(EXTRA_SAMPLES, UNASSOCIATED_ALPHA))
    elif suffix == ".png" and (xmp or {TEXT, PNG_COLOUR} & set(metadata)):
        extra = metadata.get(PNG_COLOUR, b"") + metadata.get(TEXT, b"")  # colour first: before any PLTE, as it must be
        path.write_bytes(png_text.with_chunks(buffer.tobytes(), extra + (png_text.xmp_chunk(xmp) if xmp else b"")))
    else:
        path.write_bytes(buffer)  # as encoded, not copied: a 48 MP picture's PNG is hundreds of MB


def jpeg_with_extras(jpeg: bytes, xmp: bytes, metadata: Metadata) -> bytes:
    """A JPEG OpenCV wrote, with what it does not write: the XMP (where a segment holds it) and Extended XMP, the
    IPTC and comment segments, its resolution, and what followed the input's picture with the MPF that says where its
    images are."""
    if 0 < len(xmp) <= jpeg_extras.ROOM:
        jpeg = jpeg_extras.with_xmp(jpeg, xmp)
    if EXTENDED_XMP in metadata:  # after the XMP that names it, as with_segments places APP1 segments
        jpeg = jpeg_extras.with_segments(jpeg, metadata[EXTENDED_XMP])
    if CAPTIONS in metadata:
        jpeg = jpeg_extras.with_segments(jpeg, metadata[CAPTIONS])
    if DENSITY in metadata:
        jpeg = jpeg_extras.with_density(jpeg, metadata[DENSITY])
    after = metadata.get(TRAILER, b"")
    if after and MPF in metadata:
        jpeg = jpeg_extras.with_mpf(jpeg, metadata[MPF])
    return jpeg + after


def write_heif(path: Path, pixels: np.ndarray, metadata: Metadata, target: Path | None = None) -> None:
    """HEIC by libheif's x265, at HEIC_QUALITY; 16-bit pixels as 10 bits."""
    import pillow_heif

    if pixels.ndim == 2:
        mode = "L" if pixels.dtype == np.uint8 else "L;16"
    else:
        mode = ("BGR", "BGRA")[pixels.shape[2] == 4] + (";16" if pixels.dtype == np.uint16 else "")
    heif = pillow_heif.from_bytes(mode, (pixels.shape[1], pixels.shape[0]), np.ascontiguousarray(pixels).tobytes())
    nclx = {"nclx_profile": dict(zip(NCLX_FIELDS, metadata[NCLX], strict=True))} if NCLX in metadata else {}
    try:
        heif.save(path, format="HEIF", quality=HEIC_QUALITY, exif=metadata.get(EXIF), icc_profile=metadata.get(ICC),
                  xmp=metadata.get(XMP), **nclx)  # fmt: skip
    except (OSError, RuntimeError, ValueError) as e:
        raise UserError(f"{target or path}: cannot write HEIC ({e})") from None
