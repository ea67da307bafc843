"""HEVC's picture quantisers, read from the bitstream: FFmpeg's HEVC decoder exports none (H.264's, the MPEG
family's and VP9's decoders do), yet HEVC is what phones record and what most re-encoded downloads are.

A picture's quantiser is its first slice's SliceQpY (26 + the PPS's init_qp_minus26 + the slice's
slice_qp_delta; H.264's scale, 0-51 at 8 bits, negative at higher bit depths), read by walking the slice header
as ITU-T H.265 (08/2021) 7.3.6.1 lays it out, with what the SPS and PPS it names say. Only the syntax a single-layer
stream of the Main, Main 10 and range-extension profiles uses is read; a NAL unit this reader cannot follow gives
no quantiser rather than a wrong one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from stream.bits import Bits, Malformed, entry

SPS, PPS = 33, 34  # nal_unit_type
IRAP = range(16, 24)  # BLA, IDR, CRA and reserved IRAP types: their slices say no_output_of_prior_pics_flag
IDR = (19, 20)  # IDR_W_RADL, IDR_N_LP: no picture order count, no reference picture set
B_SLICE, P_SLICE = 0, 1
SLICE_BYTES = 1024  # of a slice NAL unit, enough for its header (pred_weight_table at 16 references included)


def rbsp(nal: bytes) -> bytes:
    """A NAL unit's payload past its 2-byte header, emulation prevention bytes (00 00 03) removed."""
    return re.sub(b"\x00\x00\x03", b"\x00\x00", nal[2:])


def bits_for(count: int) -> int:
    """Ceil(Log2(count)): the width of an index into `count` entries."""
    return (count - 1).bit_length()


@dataclass
class RefPicSet:
    """A short-term reference picture set: the POC deltas before (s0) and after (s1) the picture, each with
    whether the picture itself references it (used_by_curr_pic), in the order 7.4.8 derives them."""

    s0: list[tuple[int, bool]] = field(default_factory=list)
    s1: list[tuple[int, bool]] = field(default_factory=list)

    @property
    def entries(self) -> list[tuple[int, bool]]:
        return self.s0 + self.s1

    @property
    def used(self) -> int:
        return sum(used for _, used in self.entries)


@dataclass
class Sps:
    """What a slice header's syntax depends on of its sequence parameter set."""

    chroma_array_type: int
    separate_colour_plane: bool
    poc_lsb_bits: int
    sao: bool
    ref_pic_sets: list[RefPicSet]
    long_term_present: bool
    long_term_used: list[bool]  # used_by_curr_pic_lt_sps_flag of each lt_ref_pic_poc_lsb_sps
    temporal_mvp: bool


@dataclass
class Pps:
    """What a slice header's syntax depends on of its picture parameter set, and the quantiser it starts from."""

    sps_id: int
    dependent_slices: bool
    output_flag_present: bool
    extra_slice_header_bits: int
    cabac_init_present: bool
    ref_idx_default: tuple[int, int]
    init_qp: int
    weighted_pred: bool
    weighted_bipred: bool
    transquant_bypass: bool
    lists_modification: bool


def skip_profile_tier_level(r: Bits, sub_layers: int) -> None:
    r.u(96)  # the general profile, tier and flags (88 bits) and level (8)
    present = [(r.u(1), r.u(1)) for _ in range(sub_layers)]
    if sub_layers:
        r.u(2 * (8 - sub_layers))  # reserved_zero_2bits
    for profile, level in present:
        r.u(88 * profile + 8 * level)


def skip_scaling_list_data(r: Bits) -> None:
    for size_id in range(4):
        for _ in range(0, 6, 3 if size_id == 3 else 1):
            if not r.u(1):  # scaling_list_pred_mode_flag
                r.ue()
                continue
            for _ in range(min(64, 1 << (4 + 2 * size_id)) + (size_id > 1)):  # the DC coefficient from 16x16
                r.se()


def ref_pic_set(r: Bits, index: int, sets: list[RefPicSet], in_slice: bool = False) -> RefPicSet:
    """st_ref_pic_set(index) (7.3.7), predicted from an earlier set as 7.4.8 derives it, or explicit; a slice's
    own (index: the SPS's count of sets) says which set it predicts from."""
    if index and r.u(1):  # inter_ref_pic_set_prediction_flag
        ref = entry(sets, index - (r.ue() + 1 if in_slice else 1))
        delta = (1 - 2 * r.u(1)) * (r.ue() + 1)  # delta_rps_sign, abs_delta_rps_minus1
        flags = []
        for _ in range(len(ref.entries) + 1):
            used = bool(r.u(1))
            flags.append((used, used or bool(r.u(1))))  # (used_by_curr_pic_flag, use_delta_flag)
        n0, last = len(ref.s0), flags[-1]
        s0 = [(d + delta, flags[n0 + j][0]) for j, (d, _) in reversed(list(enumerate(ref.s1)))
              if d + delta < 0 and flags[n0 + j][1]]  # fmt: skip
        s0 += [(delta, last[0])] if delta < 0 and last[1] else []
        s0 += [(d + delta, flags[j][0]) for j, (d, _) in enumerate(ref.s0) if d + delta < 0 and flags[j][1]]
        s1 = [(d + delta, flags[j][0]) for j, (d, _) in reversed(list(enumerate(ref.s0)))
              if d + delta > 0 and flags[j][1]]  # fmt: skip
        s1 += [(delta, last[0])] if delta > 0 and last[1] else []
        s1 += [(d + delta, flags[n0 + j][0]) for j, (d, _) in enumerate(ref.s1) if d + delta > 0 and flags[n0 + j][1]]
        return RefPicSet(s0, s1)
    negatives, positives = r.ue(), r.ue()
    if negatives > 16 or positives > 16:
        raise Malformed("reference picture set too large")
    s0, poc = [], 0
    for _ in range(negatives):
        poc -= r.ue() + 1
        s0.append((poc, bool(r.u(1))))
    s1, poc = [], 0
    for _ in range(positives):
        poc += r.ue() + 1
        s1.append((poc, bool(r.u(1))))
    return RefPicSet(s0, s1)


def parse_sps(r: Bits) -> tuple[int, Sps]:
    """seq_parameter_set_rbsp (7.3.2.2) up to sps_temporal_mvp_enabled_flag -> its id, what slices need of it."""
    r.u(4)  # sps_video_parameter_set_id
    sub_layers = r.u(3)
    r.u(1)
    skip_profile_tier_level(r, sub_layers)
    sps_id, chroma = r.ue(), r.ue()
    separate = chroma == 3 and bool(r.u(1))
    r.ue(), r.ue()  # width, height
    if r.u(1):  # conformance_window_flag
        r.ue(), r.ue(), r.ue(), r.ue()
    r.ue(), r.ue()  # bit depths
    poc_lsb_bits = r.ue() + 4
    for _ in range(sub_layers + 1 if r.u(1) else 1):  # sub-layer ordering info
        r.ue(), r.ue(), r.ue()
    for _ in range(6):  # coding and transform block sizes, transform hierarchy depths
        r.ue()
    if r.u(1) and r.u(1):  # scaling_list_enabled_flag, sps_scaling_list_data_present_flag
        skip_scaling_list_data(r)
    r.u(1)  # amp_enabled_flag
    sao = bool(r.u(1))
    if r.u(1):  # pcm_enabled_flag
        r.u(8), r.ue(), r.ue(), r.u(1)
    count = r.ue()
    if count > 64:
        raise Malformed("more than 64 reference picture sets")
    sets: list[RefPicSet] = []
    for i in range(count):
        sets.append(ref_pic_set(r, i, sets))
    long_term, long_term_used = bool(r.u(1)), []
    if long_term:
        for _ in range(r.ue()):
            r.u(poc_lsb_bits)
            long_term_used.append(bool(r.u(1)))
    chroma_array_type = 0 if separate else chroma
    return sps_id, Sps(chroma_array_type, separate, poc_lsb_bits, sao, sets, long_term, long_term_used, bool(r.u(1)))


def parse_pps(r: Bits) -> tuple[int, Pps]:
    """pic_parameter_set_rbsp (7.3.2.3) up to lists_modification_present_flag -> its id, what slices need."""
    pps_id, sps_id = r.ue(), r.ue()
    dependent, output_flag, extra_bits = bool(r.u(1)), bool(r.u(1)), r.u(3)
    r.u(1)  # sign_data_hiding_enabled_flag
    cabac_init = bool(r.u(1))
    defaults = (r.ue() + 1, r.ue() + 1)
    init_qp = 26 + r.se()
    r.u(1), r.u(1)  # constrained_intra_pred_flag, transform_skip_enabled_flag
    if r.u(1):  # cu_qp_delta_enabled_flag
        r.ue()
    r.se(), r.se(), r.u(1)  # chroma QP offsets, pps_slice_chroma_qp_offsets_present_flag
    weighted_pred, weighted_bipred, bypass = bool(r.u(1)), bool(r.u(1)), bool(r.u(1))
    tiles = r.u(1)
    r.u(1)  # entropy_coding_sync_enabled_flag
    if tiles:
        columns, rows = r.ue(), r.ue()
        if not r.u(1):  # uniform_spacing_flag
            for _ in range(columns + rows):
                r.ue()
        r.u(1)
    r.u(1)  # pps_loop_filter_across_slices_enabled_flag
    if r.u(1):  # deblocking_filter_control_present_flag
        r.u(1)  # deblocking_filter_override_enabled_flag
        if not r.u(1):  # pps_deblocking_filter_disabled_flag
            r.se(), r.se()
    if r.u(1):  # pps_scaling_list_data_present_flag
        skip_scaling_list_data(r)
    lists = bool(r.u(1))
    return pps_id, Pps(sps_id, dependent, output_flag, extra_bits, cabac_init, defaults, init_qp,
                       weighted_pred, weighted_bipred, bypass, lists)  # fmt: skip


def skip_pred_weight_table(r: Bits, chroma: bool, counts: tuple[int, ...]) -> None:
    r.ue()
    if chroma:
        r.se()
    for count in counts:
        luma = [r.u(1) for _ in range(count)]
        chromas = [r.u(1) for _ in range(count)] if chroma else [0] * count
        for has_luma, has_chroma in zip(luma, chromas, strict=True):
            for _ in range(2 * has_luma + 4 * has_chroma):
                r.se()


def slice_qp(nal_type: int, r: Bits, sps: dict[int, Sps], pps: dict[int, Pps]) -> int | None:
    """SliceQpY of a picture's first slice segment (7.3.6.1); None for the picture's later segments."""
    if not r.u(1):  # first_slice_segment_in_pic_flag
        return None
    if nal_type in IRAP:
        r.u(1)
    p = pps.get(r.ue())
    s = sps.get(p.sps_id) if p else None
    if p is None or s is None:
        raise Malformed("a slice before its parameter sets")
    if p.transquant_bypass:  # enabled by encoders coding losslessly (x265 --lossless): its blocks skip the quantiser
        return 0
    r.u(p.extra_slice_header_bits)
    kind = r.ue()
    r.u(p.output_flag_present + 2 * s.separate_colour_plane)
    temporal_mvp = False
    rps = RefPicSet()
    long_term_used = 0
    if nal_type not in IDR:
        r.u(s.poc_lsb_bits)
        if not r.u(1):  # short_term_ref_pic_set_sps_flag
            rps = ref_pic_set(r, len(s.ref_pic_sets), s.ref_pic_sets, in_slice=True)
        elif s.ref_pic_sets:
            rps = entry(s.ref_pic_sets, r.u(bits_for(len(s.ref_pic_sets))))
        if s.long_term_present:
            long_term_used = skip_long_term_pictures(r, s)
        temporal_mvp = s.temporal_mvp and bool(r.u(1))
    if s.sao:
        r.u(1 + (s.chroma_array_type != 0))
    if kind in (P_SLICE, B_SLICE):
        skip_inter_slice_fields(r, kind, s, p, rps.used + long_term_used, temporal_mvp)
    qp = p.init_qp + r.se()
    if not -48 <= qp <= 51:  # -QpBdOffsetY (16 bits) .. 51
        raise Malformed(f"slice QP {qp}")
    return qp


def skip_long_term_pictures(r: Bits, s: Sps) -> int:
    """The slice's long-term reference pictures -> how many the picture itself references."""
    from_sps = r.ue() if s.long_term_used else 0
    used = 0
    for i in range(from_sps + r.ue()):
        if i < from_sps:
            used += entry(s.long_term_used, r.u(bits_for(len(s.long_term_used))))
        else:
            r.u(s.poc_lsb_bits)
            used += r.u(1)
        if r.u(1):  # delta_poc_msb_present_flag
            r.ue()
    return used


def skip_inter_slice_fields(r: Bits, kind: int, s: Sps, p: Pps, total_curr: int, temporal_mvp: bool) -> None:
    """A P or B slice's reference lists, weights and merge candidates, up to slice_qp_delta."""
    lists = 2 if kind == B_SLICE else 1
    counts = p.ref_idx_default[:lists]
    if r.u(1):  # num_ref_idx_active_override_flag
        counts = tuple(r.ue() + 1 for _ in range(lists))
    if p.lists_modification and total_curr > 1:
        for count in counts:
            if r.u(1):  # ref_pic_list_modification_flag
                r.u(count * bits_for(total_curr))
    if kind == B_SLICE:
        r.u(1)  # mvd_l1_zero_flag
    if p.cabac_init_present:
        r.u(1)
    if temporal_mvp:
        from_l0 = r.u(1) if kind == B_SLICE else 1
        if counts[0 if from_l0 else 1] > 1:
            r.ue()  # collocated_ref_idx
    if (p.weighted_pred and kind == P_SLICE) or (p.weighted_bipred and kind == B_SLICE):
        skip_pred_weight_table(r, s.chroma_array_type != 0, counts)
    r.ue()  # five_minus_max_num_merge_cand


def nal_units(data: bytes, length_size: int | None) -> Iterator[bytes]:
    """The NAL units of a packet: length-prefixed (MP4's and Matroska's hvcC streams) or behind start codes."""
    if length_size is None:
        yield from (nal for nal in re.split(b"\x00\x00\x01", data) if len(nal) > 2)
        return
    at = 0
    while at + length_size <= len(data):
        size = int.from_bytes(data[at : at + length_size], "big")
        yield data[at + length_size : at + length_size + size]
        at += length_size + size


class HevcQuantisers:
    """The quantiser of each picture an HEVC stream's packets code, in decode order, from the parameter sets
    of its extradata (hvcC, or start-coded) and of the packets themselves."""

    def __init__(self, extradata: bytes | None) -> None:
        self.sps: dict[int, Sps] = {}
        self.pps: dict[int, Pps] = {}
        self.length_size: int | None = None
        data = extradata or b""
        if len(data) > 22 and data[0] == 1:  # HEVCDecoderConfigurationRecord
            self.length_size = (data[21] & 3) + 1
            for nal in hvcc_nal_units(data):
                self.read(nal)
        else:
            for nal in nal_units(data, None):
                self.read(nal)

    def packet(self, data: bytes) -> list[int]:
        """The quantisers of the pictures a packet starts."""
        return [q for nal in nal_units(data, self.length_size) if (q := self.read(nal)) is not None]

    def read(self, nal: bytes) -> int | None:
        """Keep a parameter set; a picture's first slice -> its quantiser; anything else -> None."""
        if len(nal) < 3 or nal[0] & 0x81 or nal[1] >> 3:  # forbidden_zero_bit set, or nuh_layer_id above 0
            return None
        kind = nal[0] >> 1 & 0x3F
        if kind > 23 and kind not in (SPS, PPS):
            return None
        try:
            if kind == SPS:
                sps_id, sps = parse_sps(Bits(rbsp(nal)))
                self.sps[sps_id] = sps
            elif kind == PPS:
                pps_id, pps = parse_pps(Bits(rbsp(nal)))
                self.pps[pps_id] = pps
            elif kind < 10 or kind in IRAP:  # VCL: trailing, leading and IRAP pictures (10-15 reserved)
                return slice_qp(kind, Bits(rbsp(nal[:SLICE_BYTES])), self.sps, self.pps)
        except Malformed:
            pass
        return None


def hvcc_nal_units(data: bytes) -> Iterator[bytes]:
    """The parameter sets an HEVCDecoderConfigurationRecord carries (ISO/IEC 14496-15 8.3.3.1)."""
    at = 23
    for _ in range(data[22]):
        count, at = int.from_bytes(data[at + 1 : at + 3], "big"), at + 3
        for _ in range(count):
            size = int.from_bytes(data[at : at + 2], "big")
            yield data[at + 2 : at + 2 + size]
            at += 2 + size
