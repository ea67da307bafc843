"""Phones' photos: enhanced upright, as viewers show them, and written with their EXIF, ICC profile and XMP; HEIC
and AVIF read whole (a grid of tiles is one picture) by libheif and libavif."""

import hashlib
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import av
import cv2
import numpy as np
import pillow_heif
import pytest
from PIL import ExifTags, Image, ImageCms, ImageOps, PngImagePlugin, TiffImagePlugin

from kernels.choice import ModelChoice
from stream import heif_boxes, jpeg_extras
from stream.apps.api import FrameEnhancer
from stream.content import judge_picture
from stream.errors import UserError
from stream.exif import EXIF_IFD, PIXEL_X, PIXEL_Y, XMP_PACKET, Exif, upright
from stream.files import is_picture, is_video
from stream.picture_io import EXIF, ICC, NCLX_FIELDS, XMP, read_picture, upright_metadata, write_picture
from tests.cli_helpers import run_cli
from tests.media import make_clip, probe

MAKE, ORIENTATION = 0x010F, 0x0112
pillow_heif.register_heif_opener()  # Pillow opens the HEIC written here, to read it as viewers do
ICC_PROFILE = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()  # any profile, carried as bytes


def exif_bytes(orientation: int, size: tuple[int, int] = (48, 36)) -> bytes:
    """A camera's EXIF: its make, which way up, and (in the Exif IFD) the picture's size."""
    exif = Image.Exif()
    exif[MAKE], exif[ORIENTATION] = "TestCam", orientation
    exif.get_ifd(EXIF_IFD).update({PIXEL_X: size[0], PIXEL_Y: size[1]})
    return exif.tobytes()


def save_heic(path: Path, bgr: np.ndarray, quality: int = 90, exif: bytes = b"", nclx: tuple | None = None) -> None:
    """A HEIC as a phone's, by libheif's x265 (pillow-heif: EXIF's orientation becomes the HEIF's irot)."""
    mode = "BGR;16" if bgr.dtype == np.uint16 else "BGR"
    profile = {"nclx_profile": dict(zip(NCLX_FIELDS, nclx, strict=True))} if nclx else {}
    heif = pillow_heif.from_bytes(mode, (bgr.shape[1], bgr.shape[0]), np.ascontiguousarray(bgr).tobytes())
    heif.save(path, quality=quality, exif=exif or None, **profile)


def box(kind: bytes, payload: bytes, full: bool = False) -> bytes:
    """An ISO BMFF box (a full box: version 0, no flags)."""
    payload = (b"\0\0\0\0" if full else b"") + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def inner_boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    """The boxes `data` holds one after another: their types and contents."""
    found, at = [], 0
    while at < len(data):
        size, kind = struct.unpack_from(">I4s", data, at)
        found.append((kind, data[at + 8 : at + size]))
        at += size
    return found


def with_auxiliary_image(heic: bytes, urn: bytes) -> bytes:
    """A HEIC of two pictures written by libheif (IDs 1 and 2), the second made the first's auxiliary image of type
    `urn`, as an iPhone's HDR gain map is: an auxl reference, an auxC property associated with it. The grown meta
    box goes to the end of the file, a free box where it was, so that where the pictures' data are stays true."""
    at = heic.index(b"meta") - 4
    meta_size = struct.unpack_from(">I", heic, at)[0]
    parts = []
    for kind, payload in inner_boxes(heic[at + 12 : at + meta_size]):  # after the meta box's version and flags
        if kind == b"iprp":
            properties = dict(inner_boxes(payload))
            gain_map = len(inner_boxes(properties[b"ipco"])) + 1  # the new property's index (from 1)
            ipco = properties[b"ipco"] + box(b"auxC", urn + b"\0", full=True)
            ipma, pos = bytearray(properties[b"ipma"][:8]), 8  # version, flags and entry count; then 16-bit item IDs
            for _ in range(struct.unpack_from(">I", properties[b"ipma"], 4)[0]):
                item, count = struct.unpack_from(">HB", properties[b"ipma"], pos)
                each = properties[b"ipma"][pos + 3 : pos + 3 + count] + (bytes([0x80 | gain_map]) if item == 2 else b"")
                ipma += struct.pack(">HB", item, len(each)) + each
                pos += 3 + count
            payload = box(b"ipco", ipco) + box(b"ipma", bytes(ipma))
            parts.append(box(b"iref", box(b"auxl", struct.pack(">HHH", 2, 1, 1)), full=True))  # from 2, to 1
        parts.append(box(kind, payload))
    free = struct.pack(">I4s", meta_size, b"free") + bytes(meta_size - 8)
    return heic[:at] + free + heic[at + meta_size :] + box(b"meta", b"".join(parts), full=True)


def sideways(shown: np.ndarray) -> np.ndarray:
    """How a phone held upright stores `shown` with EXIF orientation 6: turned a quarter anticlockwise."""
    return np.ascontiguousarray(np.rot90(shown))


def rgb(bgr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(bgr[..., ::-1]))


def grey(bgr: np.ndarray) -> np.ndarray:
    """Luma alone: HEVC's 4:2:0 chroma strays far on a small picture of saturated colours."""
    return cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2GRAY).astype(float)


def enhance(capsys, src: Path, dst: Path, weights: Path, *args: str) -> str:
    code, _, err = run_cli([str(src), str(dst), "--weights", str(weights), "--precision", "fp32", "-y", *args], capsys)
    assert code == 0, err
    return err


def test_pixels_turn_as_viewers_show_each_exif_orientation():
    pixels = np.arange(5 * 3 * 2, dtype=np.uint8).reshape(5, 3, 2)
    for orientation in range(1, 9):
        image = Image.fromarray(pixels[..., 0])
        image.getexif()[ORIENTATION] = orientation
        assert np.array_equal(upright(pixels, orientation)[..., 0], np.asarray(ImageOps.exif_transpose(image)))


def with_thumbnail(tiff: bytes) -> bytes:
    """EXIF (a TIFF) with an IFD1 after its IFD0, as cameras link their thumbnail: one entry."""
    order = "little" if tiff[:2] == b"II" else "big"
    ifd0 = int.from_bytes(tiff[4:8], order)
    link = ifd0 + 2 + 12 * int.from_bytes(tiff[ifd0 : ifd0 + 2], order)
    fields = [(1, 2), (0x0103, 2), (3, 2), (1, 4), (6, 2), (0, 2), (0, 4)]  # 1 entry: Compression, SHORT, 1, JPEG
    ifd1 = b"".join(value.to_bytes(size, order) for value, size in fields)  # ... then no IFD2
    return tiff[:link] + len(tiff).to_bytes(4, order) + tiff[link + 4 :] + ifd1


def pillow_exif(data: bytes) -> Image.Exif:
    exif = Image.Exif()
    exif.load(data)
    return exif


def test_exif_for_an_upright_picture_changes_its_orientation_size_and_thumbnail_link_alone():
    stored = with_thumbnail(exif_bytes(6).removeprefix(b"Exif\x00\x00"))
    assert pillow_exif(stored).get_ifd(ExifTags.IFD.IFD1) == {0x0103: 6}
    exif = Exif(stored)
    assert exif.orientation == 6 and exif.value(PIXEL_X) == 48
    patched = Exif(b"Exif\x00\x00" + stored).for_upright(72, 96)
    changed = [i for i, (a, b) in enumerate(zip(stored, patched, strict=True)) if a != b]
    fields = {exif.entries[tag] + 8 for tag in (ORIENTATION, PIXEL_X, PIXEL_Y)} | {exif.next_ifd}
    assert changed and all(any(0 <= i - at < 4 for at in fields) for i in changed)  # nothing else moved
    read = pillow_exif(patched)
    assert read[ORIENTATION] == 1 and read[MAKE] == "TestCam" and read.get_ifd(EXIF_IFD) == {PIXEL_X: 72, PIXEL_Y: 96}
    assert read.get_ifd(ExifTags.IFD.IFD1) == {}  # the sideways thumbnail unlinked
    assert Exif(b"not exif").orientation == 1 and Exif(b"").for_upright(1, 1) == b""


def test_xmp_says_upright_too():
    xmp = b'<rdf:Description tiff:Orientation="6" tiff:Make="TestCam"/><tiff:Orientation>8</tiff:Orientation>'
    out = upright_metadata({XMP: xmp, ICC: ICC_PROFILE}, np.zeros((2, 3, 3), np.uint8))
    assert out[XMP] == xmp.replace(b'"6"', b'"1"').replace(b">8<", b">1<") and out[ICC] == ICC_PROFILE


@pytest.mark.parametrize("name", ["out.png", "out.jpg", "out.webp", "out.avif", "out.heic"])
def test_xmp_is_carried_byte_for_byte(tmp_path, photo, name):
    """OpenCV 5.1 wrote a PNG's XMP up to a NUL, past its end (the bytes after it, from memory, into the file), and
    JPEG's not at all; it read a PNG's with a NUL and a JPEG's not at all. Into PNG it wrote a Latin-1 tEXt, where
    Pillow finds no XMP (and read Zoë as ZoÃ«): XMP in PNG is an iTXt, in UTF-8."""
    for length in (12, 33, 100):  # 33: a PNG's XMP came out 37 bytes long
        xmp = b"<x:xmpmeta " + "Zo\u00eb".encode() + b"a" * (length - 16) + b"/>"
        write_picture(tmp_path / name, photo, {XMP: xmp, ICC: ICC_PROFILE})
        assert read_picture(tmp_path / name)[1][XMP] == xmp, length
        with Image.open(tmp_path / name) as out:
            out.load()
            found = out.info["xmp"]
            assert (found.encode() if isinstance(found, str) else found) == xmp, length
            assert out.info["icc_profile"] == ICC_PROFILE


def test_a_cameras_jpeg_xmp_is_read(tmp_path, photo):
    xmp = b'<x:xmpmeta><rdf:Description tiff:Orientation="6" GPano:ProjectionType="equirectangular"/></x:xmpmeta>'
    rgb(photo).save(tmp_path / "in.jpg", exif=exif_bytes(6), icc_profile=ICC_PROFILE, xmp=xmp)
    pixels, metadata = read_picture(tmp_path / "in.jpg")
    assert metadata[XMP] == xmp and metadata[ICC] == ICC_PROFILE and pixels.shape[:2] == (48, 36)


MOTION_XMP = (
    b'<x:xmpmeta><rdf:Description GCamera:MotionPhoto="1"><Container:Directory><rdf:Seq>'
    b'<rdf:li><Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto" Item:Length="40"/>'
    b"</rdf:li></rdf:Seq></Container:Directory></rdf:Description></x:xmpmeta>"
)
VIDEO = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom\x00\x00\x00\x08mdat\xff\xd9\xff\xd8\x12\x34"


def motion_photo(path: Path, photo: np.ndarray, progressive: bool) -> bytes:
    """A phone's motion photo: a JPEG (an EXIF whose thumbnail holds an EOI of its own), its XMP listing the video
    appended after its picture."""
    exif = exif_bytes(1) + b"\xff\xd8thumbnail\xff\xd9"  # unlinked bytes inside the APP1 segment
    rgb(photo).save(path, exif=exif, xmp=MOTION_XMP, icc_profile=ICC_PROFILE, progressive=progressive)
    picture = path.read_bytes()
    path.write_bytes(picture + VIDEO)
    return picture


@pytest.mark.parametrize("progressive", [False, True])
def test_a_jpegs_picture_ends_at_its_own_eoi(tmp_path, photo, progressive):
    picture = motion_photo(tmp_path / "in.jpg", photo, progressive)
    data = (tmp_path / "in.jpg").read_bytes()
    assert data.find(b"\xff\xd9") < len(picture) - 2  # the first EOI is the thumbnail's
    assert jpeg_extras.picture_end(data) == len(picture) and jpeg_extras.trailer(data) == VIDEO
    assert jpeg_extras.trailer(picture + bytes(16)) == b""  # padding is nothing to carry


def test_a_motion_photos_video_follows_the_enhanced_picture(tmp_path, photo, tiny_weights, capsys):
    """Bytes after a JPEG's picture (a motion photo's video, an Ultra HDR gain map) were dropped while its XMP, once
    carried, would still list them."""
    motion_photo(tmp_path / "in.jpg", photo, progressive=True)
    enhance(capsys, tmp_path / "in.jpg", tmp_path / "out.jpg", tiny_weights)
    out = (tmp_path / "out.jpg").read_bytes()
    assert out.endswith(VIDEO) and jpeg_extras.trailer(out) == VIDEO
    assert cv2.imread(str(tmp_path / "out.jpg")).shape == (72, 96, 3) and jpeg_extras.read_xmp(out) == MOTION_XMP
    err = enhance(capsys, tmp_path / "in.jpg", tmp_path / "out.png", tiny_weights)
    assert "warning: out.png: written without the input's motion photo video or HDR gain map (not carried" in err


def test_an_ultra_hdr_gain_map_is_still_found_by_its_mpf(tmp_path, photo, tiny_weights, capsys):
    """An Ultra HDR photo's gain map is a second JPEG after the picture, and its MPF (an APP2 segment, which OpenCV
    neither reads nor writes) says where: it was dropped with the gain map. Pillow reads MPF (as MPO) here."""
    gain_map = Image.fromarray(np.full((9, 12, 3), 200, np.uint8))
    rgb(photo).save(tmp_path / "in.jpg", format="MPO", save_all=True, append_images=[gain_map], exif=exif_bytes(1))
    enhance(capsys, tmp_path / "in.jpg", tmp_path / "out.jpg", tiny_weights)
    out = (tmp_path / "out.jpg").read_bytes()
    with Image.open(tmp_path / "out.jpg") as enhanced:
        entries = enhanced.mpinfo[0xB002]
        assert enhanced.n_frames == 2 and enhanced.size == (96, 72)
        assert entries[0]["Size"] == jpeg_extras.picture_end(out) and entries[0]["DataOffset"] == 0
        enhanced.seek(1)
        with Image.open(tmp_path / "in.jpg") as original:
            original.seek(1)
            assert enhanced.size == (12, 9) and np.array_equal(np.asarray(enhanced), np.asarray(original))


def test_a_sideways_phone_photo_is_enhanced_upright_and_keeps_its_metadata(tmp_path, photo, tiny_weights, capsys):
    """Stored sideways with EXIF orientation 6 (as phones do), it was enhanced sideways and written without its EXIF,
    so it showed sideways; its ICC profile (Display P3 on phones) was dropped, shifting its colours."""
    rgb(sideways(photo)).save(tmp_path / "in.png", exif=exif_bytes(6, (36, 48)), icc_profile=ICC_PROFILE)
    api = FrameEnhancer(2, ModelChoice(tiny_weights, precision="fp32"))
    for name in ("out.png", "out.jpg", "out.webp", "out.heic", "out.avif"):
        enhance(capsys, tmp_path / "in.png", tmp_path / name, tiny_weights)
        with Image.open(tmp_path / name) as out:
            exif = out.getexif()
            assert out.size == (96, 72), name  # upright: as wide as the photo is shown
            assert exif[ORIENTATION] == 1 and exif[MAKE] == "TestCam" and exif.get_ifd(EXIF_IFD)[PIXEL_X] == 96, name
            assert out.info["icc_profile"] == ICC_PROFILE, name
    assert np.array_equal(cv2.imread(str(tmp_path / "out.png")), api(photo, order="bgr"))  # lossless: the API's


def test_a_sideways_tiff_is_read_upright_with_its_icc_profile_and_xmp(tmp_path, photo, tiny_weights, capsys):
    """OpenCV 5.1 read no TIFF with an orientation but 1 ("original_ptr == real_mat.data", its log lines and then
    ours), and no TIFF's ICC profile or XMP."""
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[ORIENTATION], tags[XMP_PACKET] = 6, b'<x:xmpmeta tiff:Orientation="6"/>'
    tags.tagtype[XMP_PACKET] = 1  # BYTE, as TIFF stores XMP
    rgb(sideways(photo)).save(tmp_path / "in.tif", tiffinfo=tags, icc_profile=ICC_PROFILE, compression="tiff_lzw")
    err = enhance(capsys, tmp_path / "in.tif", tmp_path / "out.png", tiny_weights)
    assert "ERROR" not in err
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (96, 72) and out.info["icc_profile"] == ICC_PROFILE
        assert out.info["XML:com.adobe.xmp"] == '<x:xmpmeta tiff:Orientation="1"/>'  # upright now
    api = FrameEnhancer(2, ModelChoice(tiny_weights, precision="fp32"))
    assert np.array_equal(cv2.imread(str(tmp_path / "out.png")), api(photo, order="bgr"))
    grey16 = (photo[..., 1].astype(np.uint16) * 257)[::-1].T  # stored so that orientation 8 shows `photo`'s green
    Image.fromarray(np.ascontiguousarray(grey16)).save(tmp_path / "grey.tif", tiffinfo={ORIENTATION: 8})
    pixels, _ = read_picture(tmp_path / "grey.tif")
    assert pixels.dtype == np.uint16 and np.array_equal(pixels, photo[..., 1].astype(np.uint16) * 257)


def test_a_damaged_tiff_is_one_line(tmp_path, photo, tiny_weights, capfd):
    """libtiff's own errors (OpenCV's log, on the stderr file descriptor) came before ours."""
    cv2.imwrite(str(tmp_path / "in.tif"), photo)
    data = (tmp_path / "in.tif").read_bytes()
    (tmp_path / "in.tif").write_bytes(data[: len(data) // 2])
    code, _, err = run_cli([str(tmp_path / "in.tif"), str(tmp_path / "out.png"), "--weights", str(tiny_weights)], capfd)
    assert code == 1 and err.strip().splitlines()[-1].endswith("in.tif: not a readable 8- or 16-bit image"), err
    assert "TIFF" not in err, err


def test_a_jpegs_iptc_and_comment_are_carried(tmp_path, photo, tiny_weights, capsys):
    """A press photo's caption, credit and copyright (IPTC, in Photoshop's APP13 segment) and a JPEG's comment:
    OpenCV's writer dropped them."""
    iptc = b"\x1c\x02\x78\x00\x0dA lighthouse." + b"\x1c\x02\x74\x00\x0f(c) A. Person 26"  # 2:120, 2:116
    resource = b"8BIM\x04\x04\x00\x00" + len(iptc).to_bytes(4, "big") + iptc + b"\x00" * (len(iptc) % 2)
    payload = b"Photoshop 3.0\x00" + resource
    rgb(photo).save(tmp_path / "press.jpg", comment=b"scanned at 600 dpi", quality=95)
    data = (tmp_path / "press.jpg").read_bytes()
    app13 = b"\xff\xed" + (len(payload) + 2).to_bytes(2, "big") + payload
    (tmp_path / "press.jpg").write_bytes(data[:2] + app13 + data[2:])
    enhance(capsys, tmp_path / "press.jpg", tmp_path / "out.jpg", tiny_weights)
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.size == (96, 72) and out.info["comment"] == b"scanned at 600 dpi"
        assert ("APP13", payload) in out.applist
    err = enhance(capsys, tmp_path / "press.jpg", tmp_path / "out.png", tiny_weights)
    assert "warning: out.png: written without the input's IPTC and comment (not carried into .png)" in err


def test_a_jpegs_extended_xmp_is_carried(tmp_path, photo, tiny_weights, capsys):
    """A portrait's depth map and unblurred photo (Google's GDepth and GImage) are XMP too large for a segment, in
    Extended XMP segments the standard XMP names by their digest: they were dropped without a word."""
    extended = b'<x:xmpmeta><rdf:Description GDepth:Data="' + b"QUFB" * 30000 + b'"/></x:xmpmeta>'
    guid = hashlib.md5(extended).hexdigest().upper().encode()
    xmp = b'<x:xmpmeta><rdf:Description xmpNote:HasExtendedXMP="' + guid + b'"/></x:xmpmeta>'
    head = jpeg_extras.EXTENSION + guid + len(extended).to_bytes(4, "big")  # then each piece's offset, and it
    pieces = [head + at.to_bytes(4, "big") + extended[at : at + 65000] for at in range(0, len(extended), 65000)]
    rgb(photo).save(tmp_path / "portrait.jpg", xmp=xmp, quality=95)
    data = (tmp_path / "portrait.jpg").read_bytes()
    app1s = b"".join(b"\xff\xe1" + (len(piece) + 2).to_bytes(2, "big") + piece for piece in pieces)
    (tmp_path / "portrait.jpg").write_bytes(data[:2] + app1s + data[2:])
    enhance(capsys, tmp_path / "portrait.jpg", tmp_path / "out.jpg", tiny_weights)
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.size == (96, 72) and out.info["xmp"] == xmp
        carried = [payload for marker, payload in out.applist if payload.startswith(jpeg_extras.EXTENSION)]
        assert carried == pieces
    err = enhance(capsys, tmp_path / "portrait.jpg", tmp_path / "out.png", tiny_weights)
    assert "warning: out.png: written without the input's Extended XMP (not carried into .png)" in err, err


def test_a_comment_alone_is_named_alone(tmp_path, photo, tiny_weights, capsys):
    """FFmpeg and many a program stamp a JPEG with a comment and no IPTC: the warning said "IPTC and comment"."""
    rgb(photo).save(tmp_path / "in.jpg", comment=b"Lavc62.11.100", quality=95)
    err = enhance(capsys, tmp_path / "in.jpg", tmp_path / "out.png", tiny_weights)
    assert "warning: out.png: written without the input's comment (not carried into .png)" in err, err


def test_a_jfif_is_a_jpeg(tmp_path, photo, tiny_weights, capsys):
    """Browsers on Windows save a downloaded JPEG as .jfif: it went down the video path (its EXIF orientation and
    metadata lost, and a .jfif out refused as no container FFmpeg knows); numbered .jfif out of a video too."""
    rgb(sideways(photo)).save(tmp_path / "in.jfif", format="JPEG", exif=exif_bytes(6, (36, 48)), comment=b"saved")
    enhance(capsys, tmp_path / "in.jfif", tmp_path / "out.jfif", tiny_weights)
    with Image.open(tmp_path / "out.jfif") as out:
        assert out.format == "JPEG" and out.size == (96, 72) and out.getexif()[ORIENTATION] == 1
        assert out.info["comment"] == b"saved"
    clip = make_clip(tmp_path / "clip.mkv", width=32, height=24, codec="ffv1", pts_ms=[0, 40], audio=False)
    enhance(capsys, clip, tmp_path / "f_%02d.jfif", tiny_weights)
    assert [Image.open(tmp_path / f"f_0{n}.jfif").size for n in (1, 2)] == [(64, 48)] * 2


def test_a_cmyk_jpeg_is_written_without_its_cmyk_profile(tmp_path, photo, tiny_weights, capsys):
    """OpenCV gives a CMYK JPEG's pixels as BGR; its CMYK profile went with them, and PNG's writer refused it (the
    error naming the hidden partial file)."""
    cmyk_profile = ICC_PROFILE[:16] + b"CMYK" + ICC_PROFILE[20:]  # only its colour space is read
    rgb(photo).convert("CMYK").save(tmp_path / "print.jpg", icc_profile=cmyk_profile, quality=95)
    for name in ("out.png", "out.jpg"):
        enhance(capsys, tmp_path / "print.jpg", tmp_path / name, tiny_weights)
        with Image.open(tmp_path / name) as out:
            assert out.mode == "RGB" and out.size == (96, 72) and "icc_profile" not in out.info, name


def test_a_pngs_text_is_carried_into_png(tmp_path, photo, tiny_weights, capsys):
    """An image generator's PNG says how it was made in text chunks (its prompt and settings; a node editor's whole
    workflow, which it loads back from the picture): OpenCV dropped them."""
    text = PngImagePlugin.PngInfo()
    text.add_text("parameters", "a lighthouse at dusk, Steps: 30, Seed: 7")
    text.add_text("workflow", '{"nodes": [1, 2, 3]}' * 50, zip=True)  # zTXt
    text.add_itxt("Comment", "Leuchtturm \u00e0 la tomb\u00e9e du jour", lang="fr")
    rgb(photo).save(tmp_path / "gen.png", pnginfo=text, icc_profile=ICC_PROFILE)
    enhance(capsys, tmp_path / "gen.png", tmp_path / "out.png", tiny_weights)
    with Image.open(tmp_path / "gen.png") as made, Image.open(tmp_path / "out.png") as out:
        out.load()
        assert out.size == (96, 72) and out.text == made.text and len(out.text) == 3
        assert out.info["icc_profile"] == ICC_PROFILE
    err = enhance(capsys, tmp_path / "gen.png", tmp_path / "out.jpg", tiny_weights)
    assert "warning: out.jpg: written without the input's PNG text (not carried into .jpg)" in err


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_a_pngs_gamma_primaries_and_resolution_are_carried_into_png(tmp_path, photo, tiny_weights, capsys):
    """OpenCV writes none of them: a PNG of gamma 1.0 and BT.2020 primaries came out to be shown as sRGB (its
    300 dpi lost too), without a word."""
    colour = (png_chunk(b"gAMA", struct.pack(">I", 100000))
              + png_chunk(b"cHRM", struct.pack(">8I", 31270, 32900, 70800, 29200, 17000, 79700, 13100, 4600))
              + png_chunk(b"pHYs", struct.pack(">IIB", 11811, 11811, 1)))  # fmt: skip
    png = cv2.imencode(".png", photo)[1].tobytes()
    (tmp_path / "in.png").write_bytes(png[:33] + colour + png[33:])  # after its signature and header (IHDR)
    enhance(capsys, tmp_path / "in.png", tmp_path / "out.png", tiny_weights)
    with Image.open(tmp_path / "in.png") as made, Image.open(tmp_path / "out.png") as out:
        assert out.size == (96, 72) and out.info["gamma"] == 1.0 and made.info["dpi"] == out.info["dpi"]
        assert (
            out.info["chromaticity"]
            == made.info["chromaticity"]
            == pytest.approx((0.3127, 0.329, 0.708, 0.292, 0.17, 0.797, 0.131, 0.046))
        )
    err = enhance(capsys, tmp_path / "in.png", tmp_path / "out.jpg", tiny_weights)
    assert "warning: out.jpg: written without the input's PNG colour chunks (gAMA, cHRM) (not carried" in err


def test_a_scanned_jpegs_resolution_is_kept(tmp_path, photo, tiny_weights, capsys):
    """Its JFIF header's 300 dpi came out as OpenCV writes it, an aspect of 1:1 and no resolution."""
    rgb(photo).save(tmp_path / "scan.jpg", dpi=(300, 300), quality=95)
    enhance(capsys, tmp_path / "scan.jpg", tmp_path / "out.jpg", tiny_weights)
    with Image.open(tmp_path / "out.jpg") as out:
        assert out.size == (96, 72) and out.info["dpi"] == (300, 300) and out.info["jfif_unit"] == 1


def test_a_tiffs_alpha_is_read_as_stored_and_written_as_alpha(tmp_path, photo):
    """An RGBA TIFF as Pillow and Photoshop write it (ExtraSamples: unassociated alpha) was read with its colour
    multiplied by the alpha (libtiff's RGBA reading, at 8 bits); OpenCV writes the 4th sample without saying what
    it is (libtiff warns, and readers that follow it see no transparency)."""
    bgra = np.dstack([photo, np.tile(np.arange(48, dtype=np.uint8) * 5, (36, 1))])
    Image.fromarray(np.ascontiguousarray(bgra[..., [2, 1, 0, 3]]), "RGBA").save(tmp_path / "in.tif")
    assert np.array_equal(read_picture(tmp_path / "in.tif")[0], bgra)
    for pixels in (bgra, bgra.astype(np.uint16) * 257):
        write_picture(tmp_path / "out.tif", pixels, {})
        with Image.open(tmp_path / "out.tif") as out:
            assert out.tag_v2.get(338) == (2,)  # ExtraSamples: unassociated alpha
        assert np.array_equal(read_picture(tmp_path / "out.tif")[0], pixels)


def raw_profile(exif: bytes) -> str:
    """EXIF as ImageMagick writes it into a PNG's text: the profile's name, its length, then hexadecimal lines."""
    digits = exif.hex()
    return f"\nexif\n{len(exif):8d}\n" + "\n".join(digits[i : i + 72] for i in range(0, len(digits), 72)) + "\n"


def test_imagemagicks_exif_in_a_pngs_text_counts_and_travels_as_exif(tmp_path, photo, tiny_weights, capsys):
    """ImageMagick writes a photo's EXIF into a PNG as a "Raw profile type exif" text chunk: it was carried as it
    was, saying orientation 6 of a picture now upright (viewers turned it again), and counted for nothing where
    the PNG had no eXIf (the picture came out sideways)."""
    for both in (True, False):
        text = PngImagePlugin.PngInfo()
        text.add_text("Raw profile type exif", raw_profile(exif_bytes(6, (36, 48))), zip=True)
        text.add_text("Title", "lighthouse")
        extra = {"exif": exif_bytes(6, (36, 48))} if both else {}
        rgb(sideways(photo)).save(tmp_path / "in.png", pnginfo=text, **extra)
        enhance(capsys, tmp_path / "in.png", tmp_path / "out.png", tiny_weights, "-y")
        with Image.open(tmp_path / "out.png") as out:
            out.load()
            assert out.size == (96, 72) and out.getexif()[ORIENTATION] == 1 and out.getexif()[MAKE] == "TestCam"
            assert out.text == {"Title": "lighthouse"}, both  # no stale orientation, the rest of the text kept


def test_numbered_phone_photos_make_a_video_shown_upright(tmp_path, photo, tiny_weights, capsys):
    """FFmpeg 8 tags a JPEG's frame with its EXIF (side data type 31), which PyAV 18 cannot name: reading the
    frame's side data raised ValueError and the run stopped. Its orientation becomes the video's rotation."""
    for n in range(3):
        rgb(sideways(photo)).save(tmp_path / f"f_{n}.jpg", exif=exif_bytes(6, (36, 48)), quality=95)
    args = [str(tmp_path / "f_%d.jpg"), str(tmp_path / "out.mp4"), "--fps", "10", "--weights", str(tiny_weights)]
    code, _, err = run_cli(args, capsys)
    assert code == 0, err
    made = probe(tmp_path / "out.mp4")
    assert made["frames"] == 3 and made["size"] == (72, 96) and made["rotation"] == -90  # stored sideways, shown so


def test_a_jpeg_cut_short_is_decoded_past_and_said(tmp_path, photo, tiny_weights, capsys):
    """A download cut short: decoded as viewers show it (the rest grey) without a word of ours; --strict now fails
    it as it fails a damaged video, the output kept."""
    cv2.imwrite(str(tmp_path / "whole.jpg"), photo)
    assert "damaged" not in enhance(capsys, tmp_path / "whole.jpg", tmp_path / "whole.png", tiny_weights)
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 2 // 3])
    said = "cut.jpg: damaged input, its data ends before the picture does (decoded past: the rest is grey)"
    assert f"warning: {said}" in enhance(capsys, tmp_path / "cut.jpg", tmp_path / "out.png", tiny_weights)
    assert cv2.imread(str(tmp_path / "out.png")).shape == (72, 96, 3)
    args = [str(tmp_path / "cut.jpg"), str(tmp_path / "strict.png"), "--weights", str(tiny_weights), "--strict"]
    code, _, err = run_cli(args, capsys)
    assert code == 1 and err.strip().splitlines()[-1] == f"error: {said}; {tmp_path / 'strict.png'} has what decoded"
    assert (tmp_path / "strict.png").is_file()
    code, _, err = run_cli([*args[:2], "--weights", str(tiny_weights), "--quiet", "-y"], capsys)
    assert code == 0 and err == f"warning: {said}\n"  # said even so, as a video's damage is (it was lost)


def test_a_jpeg_cut_short_is_one_line(tmp_path, photo, tiny_weights, capfd):
    """libjpeg printed its own "Premature end of JPEG file" on the stderr file descriptor before our warning."""
    cv2.imwrite(str(tmp_path / "whole.jpg"), photo)
    data = (tmp_path / "whole.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    args = [str(tmp_path / "cut.jpg"), str(tmp_path / "out.png"), "--weights", str(tiny_weights)]
    code, _, err = run_cli(args, capfd)
    assert code == 0 and "warning: cut.jpg: damaged input" in err, err
    assert "Premature end" not in err, err


def test_tiff_and_bmp_say_once_that_they_lose_the_metadata(tmp_path, photo, tiny_weights, capsys):
    """TIFF and BMP get the pixels alone: a photo's ICC profile was lost without a word, its colours shifted."""
    for n in (1, 2):
        rgb(photo).save(tmp_path / f"in_{n}.png", exif=exif_bytes(1), icc_profile=ICC_PROFILE)
    lost = "written without the input's EXIF and ICC profile (TIFF and BMP get the pixels alone)"
    err = enhance(capsys, tmp_path / "in_%d.png", tmp_path / "out_%d.tif", tiny_weights)
    assert f"warning: out_%d.tif: {lost}" in err and err.count(lost) == 1  # once for a sequence
    assert f"out.bmp: {lost}" in enhance(capsys, tmp_path / "in_1.png", tmp_path / "out.bmp", tiny_weights)
    with Image.open(tmp_path / "out_2.tif") as out:
        assert out.size == (96, 72) and "icc_profile" not in out.info  # what it says
    cv2.imwrite(str(tmp_path / "bare.png"), photo)  # nothing to lose
    assert "written without" not in enhance(capsys, tmp_path / "bare.png", tmp_path / "bare.tif", tiny_weights)
    assert "written without" not in enhance(capsys, tmp_path / "in_1.png", tmp_path / "out.png", tiny_weights)
    (tmp_path / "folder").mkdir()  # a folder of TIFFs with their profiles: each written without it, and said
    rgb(photo).save(tmp_path / "folder" / "scan.tif", icc_profile=ICC_PROFILE)
    code, _, err = run_cli([str(tmp_path / "folder"), str(tmp_path / "out"), "--weights", str(tiny_weights)], capsys)
    assert code == 0 and "warning: scan.tif: written without the input's ICC profile (TIFF and BMP" in err, err


def test_a_heic_photo_is_read_by_its_own_rotation(tmp_path, photo, tiny_weights, capsys):
    """HEIF says how a photo is shown by its own transforms (irot), applied by libheif; its EXIF orientation, which
    a phone writes as well, is not applied again."""
    save_heic(tmp_path / "in.heic", photo, exif=exif_bytes(6), quality=95)  # pillow-heif: EXIF's 6 -> irot
    pixels, metadata = read_picture(tmp_path / "in.heic")
    assert Exif(metadata[EXIF]).orientation == 6 and pixels.shape == (48, 36, 3)
    assert np.abs(grey(pixels) - grey(np.rot90(photo, -1))).mean() < 2  # turned a quarter clockwise, once
    enhance(capsys, tmp_path / "in.heic", tmp_path / "out.png", tiny_weights)
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (72, 96) and out.getexif()[ORIENTATION] == 1


def test_heic_keeps_16_bits_as_10_and_grey_as_grey(tmp_path, photo):
    deep = photo.astype(np.uint16) * 257
    for name, pixels in {"deep.heic": deep, "grey.heic": photo[..., 0]}.items():
        write_picture(tmp_path / name, pixels, {})
        back, _ = read_picture(tmp_path / name)
        assert back.dtype == pixels.dtype and back.shape == pixels.shape, name
        luma = (lambda a: a.astype(float)) if pixels.ndim == 2 else grey
        assert np.abs(luma(back) - luma(pixels)).mean() < 0.01 * np.iinfo(pixels.dtype).max, name
    assert pillow_heif.open_heif(tmp_path / "deep.heic", convert_hdr_to_8bit=False).info["bit_depth"] == 10


def test_a_heifs_colour_description_travels_with_it(tmp_path, photo, tiny_weights, capsys):
    """A HEIF says its primaries and transfer in its nclx (a camera's HLG, a phone's Display P3 without an ICC
    profile): it was dropped, so the output said BT.709 and sRGB, an HDR photo shown flat and P3's colours dull."""
    hlg = {"color_primaries": 9, "transfer_characteristics": 18, "matrix_coefficients": 9, "full_range_flag": 0}
    deep = np.ascontiguousarray(photo.astype(np.uint16) * 257)
    save_heic(tmp_path / "hlg.heic", deep, nclx=tuple(hlg.values()))
    assert "written without" not in enhance(capsys, tmp_path / "hlg.heic", tmp_path / "out.heic", tiny_weights)
    out = pillow_heif.open_heif(tmp_path / "out.heic", convert_hdr_to_8bit=False)
    assert (
        {key: out.info["nclx_profile"][key] for key in hlg} == hlg
        and out.size == (96, 72)
        and out.info["bit_depth"] == 10
    )
    err = enhance(capsys, tmp_path / "hlg.heic", tmp_path / "out.png", tiny_weights)
    assert "warning: out.png: written without the input's HEIF colour description (not carried into .png)" in err
    save_heic(tmp_path / "srgb.heic", photo)
    assert "written without" not in enhance(capsys, tmp_path / "srgb.heic", tmp_path / "srgb.png", tiny_weights)


@pytest.mark.skipif(shutil.which("avifenc") is None, reason="avifenc (libavif-bin) makes the AVIF")
def test_an_avifs_colour_description_is_read_from_its_boxes(tmp_path, photo, tiny_weights, capsys):
    """Pillow reads an AVIF's pixels but not its nclx: a 10-bit HLG AVIF came out an sRGB-tagged picture without a
    word. Now its nclx goes into HEIC, and an output that cannot take it says so."""
    cv2.imwrite(str(tmp_path / "src.png"), photo)
    for cicp, name in (("9/18/9", "hlg.avif"), ("1/13/6", "srgb.avif")):
        subprocess.run(["avifenc", "--cicp", cicp, "-d", "10", str(tmp_path / "src.png"), str(tmp_path / name)],
                       check=True, capture_output=True)  # fmt: skip
    with open(tmp_path / "hlg.avif", "rb") as f:
        assert heif_boxes.nclx(f)[:3] == bytes([9, 18, 9])
    enhance(capsys, tmp_path / "hlg.avif", tmp_path / "out.heic", tiny_weights)
    out = pillow_heif.open_heif(tmp_path / "out.heic")
    assert [out.info["nclx_profile"][key] for key in ("color_primaries", "transfer_characteristics")] == [9, 18]
    err = enhance(capsys, tmp_path / "hlg.avif", tmp_path / "out.avif", tiny_weights)
    assert "warning: out.avif: written without the input's HEIF colour description (not carried into .avif)" in err
    assert "written without" not in enhance(capsys, tmp_path / "srgb.avif", tmp_path / "srgb.png", tiny_weights)


@pytest.mark.skipif(shutil.which("avifenc") is None, reason="avifenc (libavif-bin) makes the AVIF")
@pytest.mark.parametrize("bits", [8, 10, 12])
def test_an_avif_read_at_fewer_bits_than_it_has_says_so(tmp_path, photo, tiny_weights, capsys, bits):
    """Pillow reads AVIF at 8 bits: a 10-bit photo's depth was lost, and a 16-bit PNG written, without a word."""
    cv2.imwrite(str(tmp_path / "src.png"), photo)
    subprocess.run(["avifenc", "-d", str(bits), str(tmp_path / "src.png"), str(tmp_path / "in.avif")],
                   check=True, capture_output=True)  # fmt: skip
    err = enhance(capsys, tmp_path / "in.avif", tmp_path / "out.png", tiny_weights)
    said = f"warning: in.avif: its {bits}-bit samples are read at 8 bits (the AVIF reader holds no more)"
    assert (said in err.splitlines()) == (bits > 8) and ("read at 8 bits" in err) == (bits > 8), err


def test_a_tiled_avif_is_one_picture_turned_as_it_says(tmp_path, tiny_weights, capsys):
    """A grid of 3 x 2 tiles: FFmpeg gives six 64 px tile streams, and one of them ran; libavif joins them. Its
    rotation (irot, a quarter anticlockwise) comes as EXIF's orientation and is applied."""
    noise = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    shown = cv2.resize(noise, (192, 128), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "in.png"), shown)
    for name, extra in {"grid.avif": [], "turned.avif": ["--irot", "1"]}.items():
        command = ["avifenc", "--lossless", "--grid", "3x2", *extra, str(tmp_path / "in.png"), str(tmp_path / name)]
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    with av.open(str(tmp_path / "grid.avif")) as container:
        assert [(s.width, s.height) for s in container.streams.video] == [(64, 64)] * 6
    assert np.array_equal(read_picture(tmp_path / "grid.avif")[0], shown)
    assert np.array_equal(read_picture(tmp_path / "turned.avif")[0], np.rot90(shown))
    assert judge_picture(tmp_path / "grid.avif") == ("clean", "av1, q index 0")
    enhance(capsys, tmp_path / "grid.avif", tmp_path / "out.png", tiny_weights)
    assert cv2.imread(str(tmp_path / "out.png")).shape == (256, 384, 3)


def test_heif_names_are_pictures_and_an_image_sequence_is_a_video(tmp_path, photo, tiny_weights, capsys):
    save_heic(tmp_path / "photo.heic", photo)
    with av.open(str(tmp_path / "anim.avif"), "w") as container:  # an animated AVIF: a track (moov)
        stream = container.add_stream("libsvtav1", rate=10, options={"preset": "12"})
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 40 * i, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    assert is_picture(tmp_path / "photo.heic") and not is_video(tmp_path / "photo.heic")
    assert is_video(tmp_path / "anim.avif") and not is_picture(tmp_path / "anim.avif")
    assert is_picture(tmp_path / "new.avif") and is_picture(tmp_path / "new.HEIF")  # a name not there: a picture
    judged = judge_picture(tmp_path / "photo.heic")
    assert judged[1].startswith("hevc, quantiser"), judged
    code, _, err = run_cli([str(tmp_path / "photo.heic"), str(tmp_path / "out.mp4"), "--weights", str(tiny_weights)],
                           capsys)  # fmt: skip
    assert code == 1 and err.strip().count("\n") == 0 and "a HEIF or AVIF photo in makes a picture out" in err


def test_a_heics_hdr_gain_map_is_said_lost(tmp_path, photo, tiny_weights, capsys):
    """An iPhone's photo holds an HDR gain map (an auxiliary image; portraits a depth map too) by which an HDR screen
    shows its highlights: libheif writes none, and it was dropped without a word."""
    heif = pillow_heif.from_bytes("BGR", (36, 48), photo.tobytes())
    heif.add_frombytes("L", (18, 24), np.full((24, 18), 128, np.uint8).tobytes())
    heif.save(tmp_path / "two.heic", quality=90)
    gain_map = with_auxiliary_image((tmp_path / "two.heic").read_bytes(), b"urn:com:apple:photo:2020:aux:hdrgainmap")
    (tmp_path / "iphone.heic").write_bytes(gain_map)
    assert len(pillow_heif.open_heif(tmp_path / "iphone.heic")) == 1  # the gain map is no picture of its own
    err = enhance(capsys, tmp_path / "iphone.heic", tmp_path / "out.heic", tiny_weights)
    assert "warning: out.heic: written without the input's HDR gain map (not carried into .heic)" in err, err
    err = enhance(capsys, tmp_path / "two.heic", tmp_path / "out.heic", tiny_weights)
    assert "gain map" not in err and "auxiliary" not in err, err


def test_a_heic_x265_cannot_code_is_a_one_line_error(tmp_path):
    """x265 codes no picture wider than 8192: libheif's "Initialization problem" becomes the output's line."""
    with pytest.raises(UserError, match=r"wide.heic: cannot write HEIC \(.*x265 encoder could not be opened"):
        write_picture(tmp_path / "wide.heic", np.zeros((16, 9000, 3), np.uint8), {})


def test_a_damaged_photo_is_a_one_line_error(tmp_path, photo, tiny_weights, capsys):
    save_heic(tmp_path / "whole.heic", photo)
    (tmp_path / "cut.heic").write_bytes((tmp_path / "whole.heic").read_bytes()[:400])
    code, _, err = run_cli([str(tmp_path / "cut.heic"), str(tmp_path / "out.png"), "--weights", str(tiny_weights)],
                           capsys)  # fmt: skip
    assert code == 1 and "cut.heic: not a readable HEIF picture" in err and "Traceback" not in err
    assert not (tmp_path / "out.png").exists()


def test_a_picture_named_as_another_kind_is_read_as_what_it_is(tmp_path, photo, capsys):
    """Read by its name, a PNG saved as .jpg was a damaged JPEG (failing --strict) and ran the set for compressed
    input; a JPEG saved as .png ran the clean set at quality 30; a HEIC saved as .jpg was "not a readable image".
    (The shipped sets, at one unit: only they are judged.)"""

    def run(src: Path, *args: str) -> str:
        code, _, err = run_cli([str(src), str(tmp_path / "out.png"), "--units", "1", "-y", *args], capsys)
        assert code == 0, err
        return err

    cv2.imwrite(str(tmp_path / "a.png"), photo)
    (tmp_path / "a.png").rename(tmp_path / "png.jpg")
    err = run(tmp_path / "png.jpg", "--strict")
    assert "for clean input (PNG, lossless)" in err and "damaged" not in err, err
    said = f"warning: {tmp_path / 'png.jpg'}: a PNG by its contents, read as one (its name says .jpg)"
    assert err.splitlines()[-1] == said, err
    cv2.imwrite(str(tmp_path / "a.jpg"), photo, [cv2.IMWRITE_JPEG_QUALITY, 30])
    (tmp_path / "a.jpg").rename(tmp_path / "jpeg.png")
    assert "(JPEG quality 30)" in run(tmp_path / "jpeg.png")
    save_heic(tmp_path / "heic.jpg", photo)
    run(tmp_path / "heic.jpg")
    assert cv2.imread(str(tmp_path / "out.png")).shape == (photo.shape[0] * 2, photo.shape[1] * 2, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heic.jpg", "jpeg.png", "out.png", "png.jpg"]


def test_a_misnamed_picture_is_named_as_given_in_its_log_row_and_its_errors(tmp_path, photo, tiny_weights, capsys):
    """Read through a link named as what it is, it was logged "png.jpg.png" and its errors named the link
    (/tmp/drrn-stream-x/png.jpg.png)."""
    cv2.imwrite(str(tmp_path / "a.png"), photo)
    (tmp_path / "a.png").rename(tmp_path / "png.jpg")
    args = ["--weights", str(tiny_weights), "--log", str(tmp_path / "pictures.csv")]
    code, _, err = run_cli([str(tmp_path / "png.jpg"), str(tmp_path / "out.png"), *args], capsys)
    assert code == 0, err
    assert (tmp_path / "pictures.csv").read_text().splitlines()[1].startswith("png.jpg,")
    (tmp_path / "cut.jpg").write_bytes((tmp_path / "png.jpg").read_bytes()[:200])
    code, _, err = run_cli([str(tmp_path / "cut.jpg"), str(tmp_path / "cut.png"), *args, "-y"], capsys)
    assert code == 1 and err.splitlines()[-1] == f"error: {tmp_path / 'cut.jpg'}: not a readable 8- or 16-bit image"
    long = tmp_path / f"{'a' * 251}.jpg"  # its link's name, this and .png, was too long a name
    (tmp_path / "png.jpg").rename(long)
    code, _, err = run_cli([str(long), str(tmp_path / "long.png"), *args, "-y"], capsys)
    assert code == 0 and (tmp_path / "long.png").is_file(), err


def test_the_pictures_a_file_holds_beside_the_one_enhanced_are_said_left_out(tmp_path, photo, tiny_weights, capsys):
    """A multi-page TIFF (a scan, a fax) gave its first page and a HEIF of several images (a burst) its primary
    one, the rest dropped without a word."""
    page, other = Image.fromarray(photo[..., ::-1]), Image.new("RGB", (30, 20), (0, 200, 255))
    page.save(tmp_path / "scan.tiff", save_all=True, append_images=[other, other])
    err = enhance(capsys, tmp_path / "scan.tiff", tmp_path / "out.png", tiny_weights)
    assert "warning: out.png: written without the input's 2 other pages (not carried into .png)" in err, err
    heif = pillow_heif.from_pillow(page)
    heif.add_from_pillow(other)
    heif.save(tmp_path / "burst.heic", quality=90)
    err = enhance(capsys, tmp_path / "burst.heic", tmp_path / "out.png", tiny_weights)
    assert "warning: out.png: written without the input's 1 other image (not carried into .png)" in err, err
    assert "other" not in enhance(capsys, tmp_path / "out.png", tmp_path / "again.png", tiny_weights)


def test_a_tiffs_thumbnail_is_no_page_of_its_own():
    """IFDs linked on from the first: a smaller copy (NewSubfileType bit 0) is no page; a loop ends the count."""

    def ifd(kind: int, next_at: int) -> bytes:  # one entry: NewSubfileType, a LONG
        return struct.pack("<HHHII", 1, 254, 4, 1, kind) + struct.pack("<I", next_at)

    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd(0, 26) + ifd(1, 44) + ifd(2, 0)  # a page, a thumbnail, a page
    assert Exif(tiff).later_pages() == 1
    looped = b"II*\x00" + struct.pack("<I", 8) + ifd(0, 26) + ifd(2, 8)  # the second links back to the first
    assert Exif(looped).later_pages() == 1


def test_an_icc_profile_for_other_pixels_than_the_outputs_is_said_lost(tmp_path, photo, tiny_weights, capsys):
    """A CMYK JPEG's profile (its pixels come as RGB) and a grey one's where alpha makes the output RGBA were
    dropped without a word; a grey picture without alpha keeps its grey profile."""
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    cmyk, grey = (srgb[:16] + space + srgb[20:] for space in (b"CMYK", b"GRAY"))
    picture = Image.fromarray(photo[..., ::-1])
    picture.convert("CMYK").save(tmp_path / "print.jpg", quality=95, icc_profile=cmyk)
    err = enhance(capsys, tmp_path / "print.jpg", tmp_path / "out.jpg", tiny_weights)
    assert "warning: out.jpg: written without the input's CMYK ICC profile (not carried into .jpg)" in err, err
    luma = picture.convert("L")
    Image.merge("LA", (luma, Image.new("L", luma.size, 128))).save(tmp_path / "greya.png", icc_profile=grey)
    err = enhance(capsys, tmp_path / "greya.png", tmp_path / "out.png", tiny_weights)
    assert "warning: out.png: written without the input's GRAY ICC profile (not carried into .png)" in err, err
    luma.save(tmp_path / "grey.png", icc_profile=grey)
    assert "ICC" not in enhance(capsys, tmp_path / "grey.png", tmp_path / "out.png", tiny_weights)
    assert Image.open(tmp_path / "out.png").info["icc_profile"] == grey


def test_heic_out_of_a_video_or_a_gif_is_one_line_that_says_what_can(tmp_path, photo, capsys):
    """FFmpeg writes no HEIC: a GIF or a video's frames into .heic read "cannot tell the container format from the
    name; give --output-format", which no format given could mend."""
    Image.fromarray(photo[..., ::-1]).save(tmp_path / "sticker.gif")
    clip = make_clip(tmp_path / "clip.mp4", audio=False)
    for src, dst in [(tmp_path / "sticker.gif", tmp_path / "out.heic"), (clip, tmp_path / "f_%02d.heic")]:
        code, _, err = run_cli([str(src), str(dst)], capsys)
        said = "HEIC is written from a picture in; a video's or a GIF's frames make .png, .jpg, .webp or .avif"
        assert (code, err) == (1, f"error: {dst}: {said}\n")


def test_sixteen_bits_into_a_format_of_eight_are_said_lost(tmp_path, photo, tiny_weights, capsys):
    """A 16-bit PNG (a scan, a raw developer's export) into JPEG, WebP or AVIF was written at 8 bits without a word."""
    cv2.imwrite(str(tmp_path / "deep.png"), photo.astype(np.uint16) * 257)
    for out in ("out.jpg", "out.webp"):
        err = enhance(capsys, tmp_path / "deep.png", tmp_path / out, tiny_weights)
        suffix = out.split(".")[1]
        assert f"warning: {out}: written without the input's 16-bit depth (not carried into .{suffix})" in err, err
    assert "16-bit" not in enhance(capsys, tmp_path / "deep.png", tmp_path / "out.png", tiny_weights)
    assert "16-bit" not in enhance(capsys, tmp_path / "out.jpg", tmp_path / "again.jpg", tiny_weights)
