"""Interlaced input made progressive before it is enhanced: FFmpeg's bwdif, as
`ffmpeg -vf bwdif=mode=send_frame` runs it, through PyAV's filter graph.

A DVD, a broadcast recording or a camcorder's 1080i holds two fields, half a frame period apart,
woven into each frame. Upscaled as they are, the fields' combing on anything that moves is
enlarged and sharpened with the picture, and the sink writes a progressive stream. So frames the
decoder flags interlaced (or every frame, where a file is known to be flagged wrongly) are
deinterlaced first, one frame out for each frame in (the timestamps, the frame count and the
audio sync stay as they were), or one for each field (twice the rate: motion as the camera
caught it, at twice the work).
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # PyAV is imported where a filter is built: the command line reads Deinterlace without it
    import av
    import av.filter

# auto: the frames flagged interlaced, a frame each; on: every frame; field: every frame, a frame per field
Deinterlace = Literal["auto", "on", "field", "off"]
# AVFieldOrder's TT and BB. Its TB and BT (one field coded first, the other shown first) files use
# inconsistently (a top-field-first ProRes reads back TB): they are named no order, bwdif goes by each frame's flag.
FIELD_ORDERS = {2: "top field first", 3: "bottom field first", 4: "", 5: ""}
# The first field shown by a stream's field order (TT and TB: the top), for frames that flag none (bwdif's parity)
PARITIES = {2: "tff", 3: "bff", 4: "tff", 5: "bff"}
# Codecs whose frames say whether they are interlaced (field or MBAFF coding, a picture header's flag): their
# frames are believed over the container. Others (Ut Video, HuffYUV, raw video, FFV1 before version 3: captures of
# tape) flag none, and the container's field order alone says they are interlaced
FRAMES_FLAGGED = {"h264", "hevc", "mpeg1video", "mpeg2video", "mpeg4", "vc1", "wmv3", "prores", "dnxhd", "mjpeg",
                  "dvvideo"}  # fmt: skip


def field_order(stream: av.video.stream.VideoStream, first: av.VideoFrame) -> str:
    """Whether, and how, the input is interlaced, by its stream or its first frame ("": progressive)."""
    said = FIELD_ORDERS.get(stream.codec_context.field_order)
    if said is None and not first.interlaced_frame:  # progressive or unknown, and the frame agrees
        return ""
    return f"interlaced ({said})" if said else "interlaced"


class Deinterlacer:
    """bwdif over a stream of decoded frames: each push returns the frames it completed (bwdif
    looks one frame ahead, so the first push returns none and the end, a push of None, the last)."""

    def __init__(self, first: av.VideoFrame, time_base: Fraction, every_frame: bool, per_field: bool = False,
                 parity: str = "auto") -> None:  # fmt: skip
        """`parity`: the field shown first, where the frames flag none ("auto": each frame's flag, else the top)."""
        self.width, self.height, self.format = first.width, first.height, first.format.name
        self.time_base, self.every_frame, self.per_field, self.parity = time_base, every_frame, per_field, parity
        # bwdif times its frames in half periods: a frame per field needs them, a frame per frame does not
        self.time_base_out = time_base / 2 if per_field else time_base
        self.reset()

    def reset(self) -> None:
        """A fresh filter: what came before is forgotten (a chunk decoded from its own keyframe)."""
        self._graph, self._ended = self._build(), False
        # A frame per field: the frames given and not yet asked about, each with whether it is a second field. bwdif
        # gives two for each frame pushed, in order (its times cannot tell them: raw H.264's frames have none)
        self._given: deque[tuple[av.VideoFrame, bool]] = deque()
        self._pulled = 0
        self._last_pts: int | None = None  # the latest frame given's, in time_base_out
        self._duration = 0  # the latest frame pushed's, in time_base: a field's in time_base_out

    def _build(self) -> av.filter.Graph:
        import av.filter

        graph = av.filter.Graph()
        source = graph.add_buffer(width=self.width, height=self.height, format=self.format, time_base=self.time_base)
        deint = "all" if self.every_frame else "interlaced"
        mode = "send_field" if self.per_field else "send_frame"
        bwdif = graph.add("bwdif", f"mode={mode}:parity={self.parity}:deint={deint}")
        sink = graph.add("buffersink")
        source.link_to(bwdif)
        bwdif.link_to(sink)
        graph.configure()
        return graph

    def second_field(self, frame: av.VideoFrame) -> bool:
        """Whether a frame it gave is a decoded frame's second field (a frame per field). Asked of the frames in the
        order it gave them (some skipped: those before a part), so those given before `frame` are let go."""
        while self._given:
            given, second = self._given.popleft()
            if given is frame:
                return second
        return False

    def push(self, frame: av.VideoFrame | None) -> list[av.VideoFrame]:
        """The frames done once `frame` is in (None: the stream's end, all that are left)."""
        if frame is not None:
            if self._ended:  # a decoder drained mid-stream (an empty packet) and then went on
                self.reset()
            self._duration = frame.duration or self._duration
            if (frame.width, frame.height, frame.format.name) != (self.width, self.height, self.format):
                frame = frame.reformat(width=self.width, height=self.height, format=self.format)  # a mid-stream change
        elif self._ended:
            return []
        self._graph.push(frame)
        self._ended = frame is None
        return self._pull()

    def _pull(self) -> list[av.VideoFrame]:
        """The frames bwdif has finished, their pts in time_base_out."""
        done = []
        while True:
            try:
                frame = self._graph.pull()
            except (BlockingIOError, EOFError):  # PyAV's: wants more input; has given all
                return done
            if frame.pts is not None:
                frame.pts = round(frame.pts * frame.time_base / self.time_base_out)
                if self.per_field and self._last_pts is not None and frame.pts <= self._last_pts and self._duration:
                    frame.pts = self._last_pts + self._duration  # a lone frame's second field, timed as its first
                self._last_pts = frame.pts  # by bwdif at its flush (a one-frame clip lasted no time)
            frame.time_base = self.time_base_out
            if self.per_field:
                self._given.append((frame, self._pulled % 2 == 1))
                self._pulled += 1
            done.append(frame)
