"""The picture size of a VVC bitstream, read from its sequence parameter set (H.266 7.3.2.4).

VTM's decoder writes headerless ``.yuv`` files, so turning its output back into an image needs
the width and height. They are in the bitstream: reading them from the SPS keeps ``decode``
a function of the bitstream alone (as a stored bitstream must be decodable without the
original image), and the size of the decoder's output file then double-checks the parse.
"""

from __future__ import annotations

from dataclasses import dataclass

SPS_NUT = 15


@dataclass(frozen=True)
class SpsSize:
    width: int  # after the conformance window, i.e. the size of the decoded picture
    height: int
    chroma_format_idc: int  # 0 = 4:0:0, 1 = 4:2:0, 2 = 4:2:2, 3 = 4:4:4


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3]  # IndexError on a truncated SPS
            value = (value << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("malformed exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def align(self) -> None:
        self.pos = (self.pos + 7) & ~7


def _nal_units(stream: bytes):
    """Payloads of the Annex-B NAL units (start codes 00 00 01 / 00 00 00 01) in ``stream``."""
    starts = []
    i = stream.find(b"\x00\x00\x01")
    while i >= 0:
        starts.append(i + 3)
        i = stream.find(b"\x00\x00\x01", i + 3)
    for n, begin in enumerate(starts):
        end = starts[n + 1] - 3 if n + 1 < len(starts) else len(stream)
        yield stream[begin:end].rstrip(b"\x00")


def _unescape(payload: bytes) -> bytes:
    """Remove emulation-prevention bytes (00 00 03 -> 00 00)."""
    out, zeros = bytearray(), 0
    for byte in payload:
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def sps_size(stream: bytes) -> SpsSize:
    """Decoded picture size of the first SPS in an Annex-B VVC bitstream; ValueError if there is none."""
    for nal in _nal_units(stream):
        if len(nal) > 2 and (nal[1] >> 3) == SPS_NUT:
            return _parse_sps(_unescape(nal[2:]))
    raise ValueError("no VVC sequence parameter set in the bitstream")


def _parse_sps(rbsp: bytes) -> SpsSize:
    bits = _Bits(rbsp)
    bits.u(4)  # sps_seq_parameter_set_id
    bits.u(4)  # sps_video_parameter_set_id
    max_sublayers_minus1 = bits.u(3)
    chroma_format_idc = bits.u(2)
    bits.u(2)  # sps_log2_ctu_size_minus5
    if bits.u(1):  # sps_ptl_dpb_hrd_params_present_flag -> profile_tier_level(1, max_sublayers_minus1)
        bits.u(7 + 1 + 8)  # general_profile_idc, general_tier_flag, general_level_idc
        bits.u(2)  # ptl_frame_only_constraint_flag, ptl_multilayer_enabled_flag
        if bits.u(1):  # gci_present_flag
            raise ValueError("SPS with general constraints info: not supported by this reader")
        bits.align()  # gci_alignment_zero_bit
        present = [bits.u(1) for _ in range(max_sublayers_minus1)]
        bits.align()  # ptl_reserved_zero_bit
        for flag in present:
            if flag:
                bits.u(8)  # sublayer_level_idc
        for _ in range(bits.u(8)):  # ptl_num_sub_profiles
            bits.u(32)
    bits.u(1)  # sps_gdr_enabled_flag
    if bits.u(1):  # sps_ref_pic_resampling_enabled_flag
        bits.u(1)  # sps_res_change_in_clvs_allowed_flag
    width, height = bits.ue(), bits.ue()
    if bits.u(1):  # sps_conformance_window_flag; offsets in chroma sample units
        sub_w = 2 if chroma_format_idc in (1, 2) else 1
        sub_h = 2 if chroma_format_idc == 1 else 1
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        width -= sub_w * (left + right)
        height -= sub_h * (top + bottom)
    if width <= 0 or height <= 0:
        raise ValueError(f"implausible picture size {width}x{height} in the SPS")
    return SpsSize(width, height, chroma_format_idc)
