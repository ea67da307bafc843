"""AV1's frame quantisers, read from the bitstream: dav1d, the decoder FFmpeg runs for AV1, exports none, yet AV1
is what YouTube and the streaming services serve more and more, and what recent phones and GPUs record.

A frame's quantiser is its base_q_idx (0-255, 0 lossless; the same q index scale as VP9's), read by walking the
frame header as the AV1 specification (1.0.0, errata 1) 5.9 lays it out, with what the sequence header says and
the sizes of the frames it keeps for reference. Every frame an encoder codes counts, the hidden ones (alternative
references, coded finer) as well; a frame shown again (show_existing_frame) is coded no more. Only the operating
point a decoder chooses by default is read (5.5.1); a frame header this reader cannot follow gives no quantiser
rather than a wrong one, and frames whose size it takes from references short-signalled (set_frame_refs, never
seen with a size override) give none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass

from stream.bits import Bits, Malformed, entry

SEQUENCE_HEADER, FRAME_HEADER, FRAME = 1, 3, 6  # obu_type; redundant frame headers (7) repeat a frame's
KEY_FRAME, INTRA_ONLY_FRAME, SWITCH_FRAME = 0, 2, 3  # frame_type
REFS, SLOTS, ALL_SLOTS = 7, 8, 0xFF  # REFS_PER_FRAME, NUM_REF_FRAMES, allFrames
SELECT = 2  # seq_force_screen_content_tools, seq_force_integer_mv: chosen per frame
HEADER_BYTES = 1024  # of a frame's OBU, enough for its header to base_q_idx (32 operating points' removal times)
MAX_TILE_WIDTH, MAX_TILE_AREA, MAX_TILE_COLS, MAX_TILE_ROWS = 4096, 4096 * 2304, 64, 64


@dataclass
class SequenceHeader:
    """What a frame header's syntax depends on of its sequence header (5.5)."""

    reduced_still_picture: bool
    decoder_model: bool  # decoder_model_info_present_flag: frames carry buffer removal times
    equal_picture_interval: bool
    removal_time_bits: int
    presentation_time_bits: int
    operating_points: list[tuple[int, bool]]  # (operating_point_idc, decoder_model_present_for_this_op)
    size_bits: tuple[int, int]  # frame_width_bits, frame_height_bits
    max_size: tuple[int, int]
    frame_id_bits: int  # idLen, 0 without frame ids
    delta_frame_id_bits: int
    superblock_128: bool
    order_hint_bits: int  # 0 without order hints
    ref_frame_mvs: bool
    screen_content_tools: int  # 0, 1 or SELECT
    integer_mv: int  # 0, 1 or SELECT
    superres: bool

    def in_operating_point(self, temporal_id: int, spatial_id: int, idc: int | None = None) -> bool:
        """Whether an OBU of these layers is decoded at the operating point whose idc is given (the default: 0)."""
        idc = self.operating_points[0][0] if idc is None else idc
        return idc == 0 or bool(idc >> temporal_id & 1 and idc >> (spatial_id + 8) & 1)


@dataclass(frozen=True)
class Reference:
    """What a later frame's header reads of a frame kept for reference: its type (a key frame shown again resets
    every slot) and size (frame_size_with_refs)."""

    frame_type: int
    upscaled_width: int
    height: int


def parse_sequence_header(r: Bits) -> SequenceHeader:
    """sequence_header_obu (5.5.1) up to enable_restoration: what follows is not a frame header's concern."""
    r.u(3)  # seq_profile
    r.u(1)  # still_picture
    reduced = bool(r.u(1))
    decoder_model = equal_interval = False
    delay_bits = removal_bits = presentation_bits = 0
    points: list[tuple[int, bool]] = []
    if reduced:
        r.u(5)  # seq_level_idx[0]
        points.append((0, False))
    else:
        if r.u(1):  # timing_info_present_flag
            r.u(64)  # num_units_in_display_tick, time_scale
            equal_interval = bool(r.u(1))
            if equal_interval:
                r.ue()  # num_ticks_per_picture_minus_1: uvlc()
            decoder_model = bool(r.u(1))
            if decoder_model:
                delay_bits = r.u(5) + 1
                r.u(32)  # num_units_in_decoding_tick
                removal_bits, presentation_bits = r.u(5) + 1, r.u(5) + 1
        initial_display_delay = r.u(1)
        for _ in range(r.u(5) + 1):
            idc, level = r.u(12), r.u(5)
            if level > 7:
                r.u(1)  # seq_tier
            model = decoder_model and bool(r.u(1))
            if model:
                r.u(2 * delay_bits + 1)  # decoder_buffer_delay, encoder_buffer_delay, low_delay_mode_flag
            if initial_display_delay and r.u(1):
                r.u(4)
            points.append((idc, model))
    width_bits, height_bits = r.u(4) + 1, r.u(4) + 1
    max_size = (r.u(width_bits) + 1, r.u(height_bits) + 1)
    frame_id_bits = delta_bits = 0
    if not reduced and r.u(1):  # frame_id_numbers_present_flag
        delta_bits = r.u(4) + 2
        frame_id_bits = delta_bits + r.u(3) + 1
    superblock_128 = bool(r.u(1))
    r.u(2)  # enable_filter_intra, enable_intra_edge_filter
    order_hint_bits, ref_frame_mvs, screen_content, integer_mv = 0, False, SELECT, SELECT
    if not reduced:
        r.u(4)  # enable_interintra_compound, enable_masked_compound, enable_warped_motion, enable_dual_filter
        order_hint = r.u(1)
        if order_hint:
            r.u(1)  # enable_jnt_comp
            ref_frame_mvs = bool(r.u(1))
        screen_content = SELECT if r.u(1) else r.u(1)
        integer_mv = (SELECT if r.u(1) else r.u(1)) if screen_content else SELECT
        order_hint_bits = r.u(3) + 1 if order_hint else 0
    superres = bool(r.u(1))
    return SequenceHeader(reduced, decoder_model, equal_interval, removal_bits, presentation_bits, points,
                          (width_bits, height_bits), max_size, frame_id_bits, delta_bits, superblock_128,
                          order_hint_bits, ref_frame_mvs, screen_content, integer_mv, superres)  # fmt: skip


class FrameHeader:
    """One uncompressed_header (5.9.2), read to base_q_idx, with the reference slots it reads and refreshes."""

    def __init__(self, r: Bits, seq: SequenceHeader, slots: list[Reference | None], layers: tuple[int, int]) -> None:
        self.r, self.seq, self.slots, self.layers = r, seq, slots, layers
        self.refresh = 0  # refresh_frame_flags: the slots this frame's type and size go to
        self.disable_cdf_update = True

    def base_q_idx(self) -> int | None:
        """The frame's base_q_idx; None for a frame shown again, which is coded no more."""
        r, seq = self.r, self.seq
        if seq.reduced_still_picture:
            frame_type, show_frame, error_resilient = KEY_FRAME, True, True
        else:
            if r.u(1):  # show_existing_frame
                self.show_existing()
                return None
            frame_type, show_frame = r.u(2), bool(r.u(1))
            if show_frame:
                self.temporal_point_info()
            else:
                r.u(1)  # showable_frame
            error_resilient = frame_type == SWITCH_FRAME or (frame_type == KEY_FRAME and show_frame) or bool(r.u(1))
        intra = frame_type in (KEY_FRAME, INTRA_ONLY_FRAME)
        self.disable_cdf_update = bool(r.u(1))
        screen_content = r.u(1) if seq.screen_content_tools == SELECT else seq.screen_content_tools
        integer_mv = (r.u(1) if seq.integer_mv == SELECT else seq.integer_mv) if screen_content else 0
        r.u(seq.frame_id_bits)  # current_frame_id
        size_override = frame_type == SWITCH_FRAME or (not seq.reduced_still_picture and bool(r.u(1)))
        r.u(seq.order_hint_bits)  # order_hint
        if not (intra or error_resilient):
            r.u(3)  # primary_ref_frame
        self.buffer_removal_times()
        self.refresh = ALL_SLOTS if frame_type == SWITCH_FRAME or (frame_type == KEY_FRAME and show_frame) else r.u(8)
        if (not intra or self.refresh != ALL_SLOTS) and error_resilient and seq.order_hint_bits:
            r.u(SLOTS * seq.order_hint_bits)  # ref_order_hint[]
        if intra:
            upscaled, width, height = self.frame_size(size_override)
            self.render_size()
            if screen_content and upscaled == width:
                r.u(1)  # allow_intrabc
        else:
            upscaled, width, height = self.inter_frame(size_override, error_resilient, bool(integer_mv))
        return self.tiles_and_quantiser(frame_type, upscaled, width, height)

    def show_existing(self) -> None:
        """A frame shown again: a key frame's refreshes every slot with itself (7.21)."""
        shown = self.r.u(3)  # frame_to_show_map_idx
        self.temporal_point_info()
        self.r.u(self.seq.frame_id_bits)  # display_frame_id
        frame = self.slots[shown]
        if frame is not None and frame.frame_type == KEY_FRAME:
            self.slots[:] = [frame] * SLOTS

    def temporal_point_info(self) -> None:
        if self.seq.decoder_model and not self.seq.equal_picture_interval:
            self.r.u(self.seq.presentation_time_bits)  # frame_presentation_time

    def buffer_removal_times(self) -> None:
        if self.seq.decoder_model and self.r.u(1):  # buffer_removal_time_present_flag
            for idc, model in self.seq.operating_points:
                if model and self.seq.in_operating_point(*self.layers, idc=idc):
                    self.r.u(self.seq.removal_time_bits)

    def inter_frame(self, size_override: bool, error_resilient: bool, integer_mv: bool) -> tuple[int, int, int]:
        """An inter or switch frame's references (its size may be one's), motion vector precision, interpolation
        filter and motion modes -> its upscaled width, coded width and height."""
        r, seq = self.r, self.seq
        short_signalled = bool(seq.order_hint_bits and r.u(1))  # frame_refs_short_signaling
        if short_signalled:
            r.u(6)  # last_frame_idx, gold_frame_idx
        references: list[int | None] = []
        for _ in range(REFS):
            references.append(None if short_signalled else r.u(3))  # ref_frame_idx
            r.u(seq.delta_frame_id_bits)  # delta_frame_id_minus_1
        if size_override and not error_resilient:
            size = self.frame_size_with_refs(references)
        else:
            size = self.frame_size(size_override)
            self.render_size()
        if not integer_mv:
            r.u(1)  # allow_high_precision_mv
        if not r.u(1):  # is_filter_switchable
            r.u(2)  # interpolation_filter
        r.u(1)  # is_motion_mode_switchable
        if not error_resilient and seq.ref_frame_mvs:
            r.u(1)  # use_ref_frame_mvs
        return size

    def frame_size(self, size_override: bool) -> tuple[int, int, int]:
        """frame_size() with superres_params() -> the upscaled width, the coded width and height."""
        if size_override:
            upscaled, height = self.r.u(self.seq.size_bits[0]) + 1, self.r.u(self.seq.size_bits[1]) + 1
        else:
            upscaled, height = self.seq.max_size
        return upscaled, self.superres_width(upscaled), height

    def superres_width(self, upscaled: int) -> int:
        """The coded width of a frame superres upscales to `upscaled` (superres_params)."""
        denominator = self.r.u(3) + 9 if self.seq.superres and self.r.u(1) else 8  # coded_denom, SUPERRES_NUM
        return (upscaled * 8 + denominator // 2) // denominator

    def render_size(self) -> None:
        if self.r.u(1):  # render_and_frame_size_different
            self.r.u(32)

    def frame_size_with_refs(self, references: list[int | None]) -> tuple[int, int, int]:
        """The size of the first reference the frame says it has (found_ref), else its own."""
        for index in references:
            if self.r.u(1):  # found_ref
                frame = entry(self.slots, index) if index is not None else None
                if frame is None:
                    raise Malformed("a size from a reference not known")
                return frame.upscaled_width, self.superres_width(frame.upscaled_width), frame.height
        size = self.frame_size(True)
        self.render_size()
        return size

    def tiles_and_quantiser(self, frame_type: int, upscaled: int, width: int, height: int) -> int:
        """disable_frame_end_update_cdf, tile_info(), base_q_idx; the slots refreshed take this frame."""
        if not (self.seq.reduced_still_picture or self.disable_cdf_update):
            self.r.u(1)  # disable_frame_end_update_cdf
        self.tile_info(2 * ((width + 7) >> 3), 2 * ((height + 7) >> 3))  # MiCols, MiRows
        base_q_idx = self.r.u(8)
        frame = Reference(frame_type, upscaled, height)
        self.slots[:] = [frame if self.refresh >> i & 1 else slot for i, slot in enumerate(self.slots)]
        return base_q_idx

    def tile_info(self, mi_cols: int, mi_rows: int) -> None:
        """tile_info() (5.9.15): how the frame is cut into tiles, which only the header's length depends on here."""
        r, shift = self.r, 5 if self.seq.superblock_128 else 4
        cols, rows = (mi_cols + (1 << shift) - 1) >> shift, (mi_rows + (1 << shift) - 1) >> shift
        max_width, max_area = MAX_TILE_WIDTH >> (shift + 2), MAX_TILE_AREA >> (2 * shift + 4)
        min_cols_log2 = tile_log2(max_width, cols)
        min_log2 = max(min_cols_log2, tile_log2(max_area, rows * cols))
        if r.u(1):  # uniform_tile_spacing_flag
            cols_log2 = increments(r, min_cols_log2, tile_log2(1, min(cols, MAX_TILE_COLS)))
            rows_log2 = increments(r, max(min_log2 - cols_log2, 0), tile_log2(1, min(rows, MAX_TILE_ROWS)))
        else:
            widths = tile_sizes(r, cols, max_width)
            max_area = (rows * cols) >> (min_log2 + 1) if min_log2 else rows * cols
            heights = tile_sizes(r, rows, max(max_area // max(widths), 1))
            cols_log2, rows_log2 = tile_log2(1, len(widths)), tile_log2(1, len(heights))
        if cols_log2 or rows_log2:
            r.u(cols_log2 + rows_log2 + 2)  # context_update_tile_id, tile_size_bytes_minus_1


def tile_log2(block: int, target: int) -> int:
    """The least k with block << k >= target."""
    k = 0
    while (block << k) < target:
        k += 1
    return k


def increments(r: Bits, least: int, most: int) -> int:
    """A log2 tile count: `least`, raised by one per increment flag read, to at most `most`."""
    value = least
    while value < most and r.u(1):
        value += 1
    return value


def tile_sizes(r: Bits, total: int, largest: int) -> list[int]:
    """Explicit tile sizes in superblocks (width_in_sbs_minus_1 or height_in_sbs_minus_1), covering `total`."""
    found: list[int] = []
    while sum(found) < total:
        found.append(r.ns(min(total - sum(found), largest)) + 1)
    return found


def leb128(data: bytes, at: int) -> tuple[int, int]:
    """An OBU's size (4.10.5) at data[at] -> it, where what follows starts."""
    value = 0
    for i in range(8):
        if at + i >= len(data):
            raise Malformed("truncated size")
        value |= (data[at + i] & 0x7F) << (7 * i)
        if not data[at + i] & 0x80:
            return value, at + i + 1
    raise Malformed("size over 8 bytes")


def obus(data: bytes) -> Iterator[tuple[int, tuple[int, int] | None, bytes]]:
    """The OBUs of a temporal unit in the low-overhead format (5.2: MP4's, Matroska's and WebM's, IVF's; the last
    may go without a size) -> its type, (temporal_id, spatial_id) where it has an extension, its payload (what the
    packet holds of it)."""
    at = 0
    while at < len(data):
        header = data[at]
        if header & 0x80:  # obu_forbidden_bit
            raise Malformed("forbidden bit")
        kind, extended, sized = header >> 3 & 0xF, header >> 2 & 1, header >> 1 & 1
        layers = (data[at + 1] >> 5, data[at + 1] >> 3 & 3) if extended and at + 1 < len(data) else None
        at += 1 + extended
        size, at = leb128(data, at) if sized else (len(data) - at, at)
        yield kind, layers, data[at : at + size]  # a packet cut short: what it holds of its last OBU's header
        at += size


class Av1Quantisers:
    """The base_q_idx of each frame an AV1 stream's packets code, in decode order, from the sequence header of
    its extradata (av1C, or bare OBUs) and of the packets themselves."""

    def __init__(self, extradata: bytes | None) -> None:
        self.seq: SequenceHeader | None = None
        self.slots: list[Reference | None] = [None] * SLOTS
        data = extradata or b""
        self.packet(data[4:] if data[:1] == b"\x81" else data)  # av1C: marker and version 1, then its OBUs

    def packet(self, data: bytes) -> list[int]:
        """The quantisers of the frames a packet (a temporal unit) codes; past damage to its OBUs' framing,
        nothing more of it."""
        quantisers: list[int] = []
        try:
            for kind, layers, payload in obus(data):
                if (q := self.read(kind, layers, payload)) is not None:
                    quantisers.append(q)
        except Malformed:
            pass
        return quantisers

    def read(self, kind: int, layers: tuple[int, int] | None, payload: bytes) -> int | None:
        """Keep a sequence header; a frame header -> its frame's quantiser; anything else -> None."""
        if kind == SEQUENCE_HEADER:
            with suppress(Malformed):
                self.seq = parse_sequence_header(Bits(payload))
            return None
        if kind not in (FRAME_HEADER, FRAME) or self.seq is None:
            return None
        if layers is not None and not self.seq.in_operating_point(*layers):
            return None
        header = FrameHeader(Bits(payload[:HEADER_BYTES]), self.seq, self.slots, layers or (0, 0))
        try:
            return header.base_q_idx()
        except Malformed:  # the slots it refreshes hold a frame of a size not known
            self.slots[:] = [None if header.refresh >> i & 1 else s for i, s in enumerate(self.slots)]
            return None
