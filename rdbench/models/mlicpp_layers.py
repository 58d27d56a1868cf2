"""Building blocks of MLIC++ (Jiang et al., arXiv 2307.15421), written for rdbench.

The architecture, module names and tensor layouts follow the facts of the official
implementation (JiangWeibeta/MLIC, ``MLIC++/``) so that its checkpoints load unchanged and the
same weights compute the same floats. Attribute names (including the official spelling
``fushion`` of the channel context) are what the checkpoints' ``state_dict`` keys require.

Bit-exactness matters here: a bitstream is only decodable if encoder and decoder compute the
same distribution parameters, and files written by the official encoder should decode here.
So every block performs the same floating-point operations in the same order as the official
one (for instance the unusual head/channel interleaving of the local attention, or the global
contexts multiplying full-size maps whose other checkerboard half is zero): a "cleaner"
rearrangement would change float rounding and, occasionally, a coded symbol.

Checkerboard convention (the whole MLIC family's, MLIC and MLIC+ included): *anchors* are the
latent positions with odd ``row + col`` (row 0: columns 1, 3, ...), coded first.
"""

from __future__ import annotations

import functools
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

with warnings.catch_warnings():  # compressai's video models warn about deprecated torch APIs on import
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.layers import GDN, conv3x3, subpel_conv3x3


def conv1x1(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=1, stride=stride)


# --------------------------------------------------------------------------------------------
# checkerboard helpers


def odd_anchor_mask(height: int, width: int, device: torch.device | str = "cpu") -> Tensor:
    """(1, 1, H, W) bool, True at anchors (odd row + col). Shared: do not modify it in place.

    The official MLIC++ checkerboard, used by MLIC and MLIC+ too.
    """
    return _odd_anchor_mask(height, width, str(device))


@functools.lru_cache(maxsize=32)
def _odd_anchor_mask(height: int, width: int, device: str) -> Tensor:
    # built on the CPU, then moved: works on the meta device, and one copy per size and device
    # spares a GPU a host-to-device transfer at each of the ~10 uses per slice. A normal (not an
    # inference-mode) tensor, so a cached mask also serves a later training forward.
    with torch.inference_mode(False):
        rows = torch.arange(height).view(-1, 1)
        cols = torch.arange(width).view(1, -1)
        return ((rows + cols) % 2 == 1).view(1, 1, height, width).to(device)


def keep_anchor(y: Tensor) -> Tensor:
    """``y`` at anchors, +0.0 elsewhere."""
    return torch.where(odd_anchor_mask(*y.shape[2:], y.device), y, y.new_zeros(()))


def keep_nonanchor(y: Tensor) -> Tensor:
    """``y`` at non-anchors, +0.0 elsewhere."""
    return torch.where(odd_anchor_mask(*y.shape[2:], y.device), y.new_zeros(()), y)


def squeeze_anchor(y: Tensor) -> Tensor:
    """(B, C, H, W) -> (B, C, H, W/2): each row's anchors, left to right (the coding order)."""
    out = y.new_zeros(*y.shape[:3], y.shape[3] // 2)
    out[:, :, 0::2] = y[:, :, 0::2, 1::2]
    out[:, :, 1::2] = y[:, :, 1::2, 0::2]
    return out


def squeeze_nonanchor(y: Tensor) -> Tensor:
    out = y.new_zeros(*y.shape[:3], y.shape[3] // 2)
    out[:, :, 0::2] = y[:, :, 0::2, 0::2]
    out[:, :, 1::2] = y[:, :, 1::2, 1::2]
    return out


def unsqueeze_anchor(s: Tensor) -> Tensor:
    """Inverse of :func:`squeeze_anchor`, zeros at non-anchors."""
    out = s.new_zeros(*s.shape[:3], s.shape[3] * 2)
    out[:, :, 0::2, 1::2] = s[:, :, 0::2]
    out[:, :, 1::2, 0::2] = s[:, :, 1::2]
    return out


def unsqueeze_nonanchor(s: Tensor) -> Tensor:
    out = s.new_zeros(*s.shape[:3], s.shape[3] * 2)
    out[:, :, 0::2, 0::2] = s[:, :, 0::2]
    out[:, :, 1::2, 1::2] = s[:, :, 1::2]
    return out


# --------------------------------------------------------------------------------------------
# residual blocks (GELU, unlike compressai's LeakyReLU versions of the same names)


class ResidualBlockWithStride(nn.Module):
    """conv3x3(stride) -> GELU -> conv3x3 -> GDN, plus a strided 1x1 skip."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, out_ch, stride=stride)
        self.act = nn.GELU()
        self.conv2 = conv3x3(out_ch, out_ch)
        self.gdn = GDN(out_ch)
        self.skip = conv1x1(in_ch, out_ch, stride) if stride != 1 or in_ch != out_ch else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.gdn(self.conv2(self.act(self.conv1(x))))
        return out + (self.skip(x) if self.skip is not None else x)


class ResidualBlockUpsample(nn.Module):
    """Sub-pixel conv -> GELU -> conv3x3 -> inverse GDN, plus a sub-pixel skip."""

    def __init__(self, in_ch: int, out_ch: int, upsample: int = 2) -> None:
        super().__init__()
        self.subpel_conv = subpel_conv3x3(in_ch, out_ch, upsample)
        self.act = nn.GELU()
        self.conv = conv3x3(out_ch, out_ch)
        self.igdn = GDN(out_ch, inverse=True)
        self.upsample = subpel_conv3x3(in_ch, out_ch, upsample)

    def forward(self, x: Tensor) -> Tensor:
        return self.igdn(self.conv(self.act(self.subpel_conv(x)))) + self.upsample(x)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions, each followed by GELU, plus a 1x1 skip when the width changes."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_ch, out_ch)
        self.act = nn.GELU()
        self.conv2 = conv3x3(out_ch, out_ch)
        self.skip = conv1x1(in_ch, out_ch) if in_ch != out_ch else None

    def forward(self, x: Tensor) -> Tensor:
        out = self.act(self.conv2(self.act(self.conv1(x))))
        return out + (self.skip(x) if self.skip is not None else x)


# --------------------------------------------------------------------------------------------
# transforms


class AnalysisTransform(nn.Module):
    def __init__(self, N: int, M: int) -> None:
        super().__init__()
        self.analysis_transform = nn.Sequential(
            ResidualBlockWithStride(3, N), ResidualBlock(N, N),
            ResidualBlockWithStride(N, N), ResidualBlock(N, N),
            ResidualBlockWithStride(N, N), ResidualBlock(N, N),
            conv3x3(N, M, stride=2),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.analysis_transform(x)


class SynthesisTransform(nn.Module):
    """Current synthesis: the first residual block keeps M channels (``old=False``).

    ``old=True`` is the 2023-09 variant ("SynthesisTransformOld"): the first block narrows
    M -> N with a 1x1 skip, so the first upsampling block reads N channels.
    """

    def __init__(self, N: int, M: int, old: bool = False) -> None:
        super().__init__()
        width = N if old else M
        self.synthesis_transform = nn.Sequential(
            ResidualBlock(M, width), ResidualBlockUpsample(width, N), ResidualBlock(N, N),
            ResidualBlockUpsample(N, N), ResidualBlock(N, N),
            ResidualBlockUpsample(N, N), ResidualBlock(N, N),
            subpel_conv3x3(N, 3, 2),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.synthesis_transform(x)


class HyperAnalysis(nn.Module):
    def __init__(self, M: int, N: int) -> None:
        super().__init__()
        self.reduction = nn.Sequential(
            conv3x3(M, N), nn.GELU(), conv3x3(N, N), nn.GELU(), conv3x3(N, N, stride=2), nn.GELU(),
            conv3x3(N, N), nn.GELU(), conv3x3(N, N, stride=2),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.reduction(x)


class HyperSynthesis(nn.Module):
    """Hyperprior features of 2M channels: (scales, means) halves, in that order."""

    def __init__(self, M: int, N: int) -> None:
        super().__init__()
        wide = M * 3 // 2
        self.increase = nn.Sequential(
            conv3x3(N, M), nn.GELU(), subpel_conv3x3(M, M, 2), nn.GELU(),
            conv3x3(M, wide), nn.GELU(), subpel_conv3x3(wide, wide, 2), nn.GELU(),
            conv3x3(wide, M * 2),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.increase(x)


# --------------------------------------------------------------------------------------------
# context models


def relative_position_index(window: int) -> Tensor:
    """(w*w, w*w) int64 index into a ((2w-1)^2, heads) relative position bias table (Swin style)."""
    grid = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = grid[:, :, None] - grid[:, None, :]
    return (rel[0] + window - 1) * (2 * window - 1) + (rel[1] + window - 1)


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


@functools.lru_cache(maxsize=2)
def _window_mask(height: int, width: int, window: int, device: str) -> Tensor:
    """One mask per size, shared by the 10 slices' local contexts (41 MB at 2048x2048 px).

    A normal tensor even when first built under inference mode, so it also serves training.
    """
    with torch.inference_mode(False):
        anchors = odd_anchor_mask(height, width).float()
        windows = F.unfold(anchors, window, padding=(window - 1) // 2)[0].t()  # (L, w*w)
        both = windows[:, :, None] * windows[:, None, :]
        return torch.where(both == 1, 0.0, -100.0).to(device)


class CheckerboardAttentionContext(nn.Module):
    """Local context: attention among the decoded anchors of a 5x5 window around every position.

    Every latent position gets the w x w window of its neighbourhood (zero padding at borders);
    inside the window, each position attends to every other with a relative position bias, and
    a -100 logit mask leaves only (anchor, anchor) pairs. The attended window is flattened by a
    w x w convolution (``fusion``) into 2*dim channels, projected, and refined by a residual MLP.
    Heads split the channels interleaved (channel = d * heads + h) when forming q/k/v but the
    output is gathered head-major (channel = h * head_dim + d), as in the official code.

    Rows of non-anchor window positions are fully masked, so their softmax is uniform over the
    window; this leaks nothing because the module is only ever fed anchor-only maps (zeros at
    non-anchors), and its output is only used at non-anchor positions.
    """

    def __init__(self, dim: int = 32, window: int = 5, mlp_ratio: float = 2.0, heads: int = 2) -> None:
        super().__init__()
        self.dim, self.window, self.heads = dim, window, heads
        self.head_dim = dim // heads
        self.scale = self.head_dim ** -0.5
        self.relative_position_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        nn.init.trunc_normal_(self.relative_position_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv_proj = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim * 2, dim * 2)
        self.mlp = MLP(dim * 2, int(dim * 2 * mlp_ratio), dim * 2)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim * 2)
        self.fusion = nn.Conv2d(dim, dim * 2, kernel_size=window)

    def attention_mask(self, height: int, width: int, device: torch.device) -> Tensor:
        """(H*W, w*w, w*w) logits offset: 0 where both window positions are in-image anchors, else -100."""
        return _window_mask(height, width, self.window, str(device))

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        n, s, nh, hd = h * w, self.window, self.heads, self.head_dim
        tokens = self.norm1(x.reshape(b, c, n).permute(0, 2, 1))
        qkv = self.qkv_proj(tokens).reshape(b, h, w, 3 * c).permute(0, 3, 1, 2)
        windows = F.unfold(qkv, s, padding=(s - 1) // 2).permute(0, 2, 1)
        windows = windows.reshape(b, n, 3, c, s, s).permute(2, 0, 1, 3, 4, 5)
        q, k, v = (t.reshape(b, n, hd, nh, s * s).permute(0, 1, 3, 4, 2) for t in windows)
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_table[self.relative_position_index.view(-1)].view(s * s, s * s, -1)
        attn = attn + bias.permute(2, 0, 1).contiguous().unsqueeze(0).unsqueeze(1)
        attn = attn + self.attention_mask(h, w, x.device).unsqueeze(0).unsqueeze(2)
        out = (torch.softmax(attn, dim=-1) @ v).reshape(b, n, nh, s, s, hd).permute(0, 1, 3, 4, 2, 5)
        out = self.fusion(out.reshape(b * n, s, s, c).permute(0, 3, 1, 2)).reshape(b, n, c * 2)
        out = self.proj(out)
        out = out + self.mlp(self.norm2(out))
        return out.permute(0, 2, 1).reshape(b, c * 2, h, w)


class ChannelContext(nn.Module):
    """Convolutions over all decoded slices -> 4 x slice channels (``fushion``: official spelling)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.fushion = nn.Sequential(
            nn.Conv2d(in_dim, 192, 3, padding=1), nn.GELU(), nn.Conv2d(192, 128, 3, padding=1), nn.GELU(),
            nn.Conv2d(128, out_dim * 4, 3, padding=1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.fushion(x)


def _qkv_branch(dim: int) -> nn.Sequential:
    """1x1 convolution then 3x3 depth-wise convolution."""
    return nn.Sequential(nn.Conv2d(dim, dim, 1), nn.Conv2d(dim, dim, 3, padding=1, groups=dim))


def _linear_attention(keys: Tensor, queries: Tensor, values: Tensor) -> Tensor:
    """Efficient (linear) attention of one head on flattened maps (B, d, L): O(L d^2), not O(L^2).

    softmax over positions for keys, over channels for queries; context = K V^T (d x d), then
    each position reads ``context^T q``.
    """
    context = keys @ values.transpose(1, 2)
    return context.transpose(1, 2) @ queries


class LinearGlobalIntraContext(nn.Module):
    """Intra-slice global context for non-anchors, with linear complexity.

    The attention pattern is learnt on the previous slice (queries from its non-anchors, keys
    from its anchors) and applied to the values of the current slice's decoded anchors.
    Softmaxes run over the squeezed half-maps; the products run on full-size maps whose other
    half is zero (same sums, same float order as the official code). Heads are computed one at
    a time by :meth:`attend_head`, the one step MLIC's quadratic variant replaces
    (:class:`rdbench.models.mlic_layers.QuadraticGlobalIntraContext`).
    """

    def __init__(self, dim: int = 32, heads: int = 2) -> None:
        super().__init__()
        self.dim, self.heads = dim, heads
        self.keys = _qkv_branch(dim)
        self.queries = _qkv_branch(dim)
        self.values = _qkv_branch(dim)
        self.reprojection = nn.Conv2d(dim, dim * 2, 5, padding=2)
        self.mlp = nn.Sequential(
            nn.Conv2d(dim * 2, dim * 4, 1), nn.GELU(),
            nn.Conv2d(dim * 4, dim * 4, 3, padding=1, groups=dim * 4), nn.GELU(),
            nn.Conv2d(dim * 4, dim * 2, 1),
        )

    def forward(self, previous: Tensor, anchors_hat: Tensor) -> Tensor:
        b, _, h, w = previous.shape
        half = h * w // 2
        queries = squeeze_nonanchor(self.queries(keep_nonanchor(previous))).reshape(b, self.dim, half)
        keys = squeeze_anchor(self.keys(keep_anchor(previous))).reshape(b, self.dim, half)
        values = squeeze_anchor(self.values(anchors_hat)).reshape(b, self.dim, half)
        hd = self.dim // self.heads
        heads = [self.attend_head(queries[:, part], keys[:, part], values[:, part], h, w)
                 for part in (slice(i * hd, (i + 1) * hd) for i in range(self.heads))]
        attention = self.reprojection(torch.cat(heads, dim=1))
        return attention + self.mlp(attention)

    def attend_head(self, queries: Tensor, keys: Tensor, values: Tensor, height: int, width: int) -> Tensor:
        """One head: squeezed (B, d, L/2) non-anchor queries, anchor keys and values -> (B, d, H, W)."""
        b, hd, _ = queries.shape
        key = unsqueeze_anchor(F.softmax(keys, dim=2).reshape(b, hd, height, width // 2))
        value = unsqueeze_anchor(values.reshape(b, hd, height, width // 2))
        query = unsqueeze_nonanchor(F.softmax(queries, dim=1).reshape(b, hd, height, width // 2))
        key, value, query = (t.reshape(b, hd, height * width) for t in (key, value, query))
        return _linear_attention(key, query, value).reshape(b, hd, height, width)


class LinearGlobalInterContext(nn.Module):
    """Inter-slice global context over all decoded slices, linear attention with 32-channel heads.

    Heads are computed one at a time by :meth:`attend_head`, the one step MLIC+'s quadratic
    variant replaces (:class:`rdbench.models.mlic_layers.QuadraticGlobalInterContext`).
    """

    def __init__(self, dim: int, out_dim: int, heads: int) -> None:
        super().__init__()
        self.dim, self.heads = dim, heads
        mid = out_dim * 3 // 2
        self.keys = _qkv_branch(dim)
        self.queries = _qkv_branch(dim)
        self.values = _qkv_branch(dim)
        self.reprojection = nn.Conv2d(dim, mid, 5, padding=2)
        self.mlp = nn.Sequential(
            nn.Conv2d(mid, out_dim * 2, 1), nn.GELU(),
            nn.Conv2d(out_dim * 2, out_dim * 2, 3, padding=1, groups=out_dim * 2), nn.GELU(),
            nn.Conv2d(out_dim * 2, out_dim, 1),
        )
        self.skip = nn.Conv2d(mid, out_dim, 1)

    def forward(self, decoded: Tensor) -> Tensor:
        b, _, h, w = decoded.shape
        queries = self.queries(decoded).reshape(b, self.dim, h * w)
        keys = self.keys(decoded).reshape(b, self.dim, h * w)
        values = self.values(decoded).reshape(b, self.dim, h * w)
        hd = self.dim // self.heads
        heads = [self.attend_head(queries[:, part], keys[:, part], values[:, part]).reshape(b, hd, h, w)
                 for part in (slice(i * hd, (i + 1) * hd) for i in range(self.heads))]
        attention = self.reprojection(torch.cat(heads, dim=1))
        return self.skip(attention) + self.mlp(attention)

    def attend_head(self, queries: Tensor, keys: Tensor, values: Tensor) -> Tensor:
        """One head on flattened (B, d, L) maps -> (B, d, L)."""
        return _linear_attention(F.softmax(keys, dim=2), F.softmax(queries, dim=1), values)


class EntropyParameters(nn.Module):
    """1x1 convolutions (in -> 320 -> 256 -> 128 -> out) giving (scales, means), in that order."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.fusion = nn.Sequential(
            nn.Conv2d(in_dim, 320, 1), nn.GELU(), nn.Conv2d(320, 256, 1), nn.GELU(),
            nn.Conv2d(256, 128, 1), nn.GELU(), nn.Conv2d(128, out_dim, 1),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.fusion(x)


class LatentResidualPrediction(nn.Module):
    """Predicts the rounding residual of a slice, bounded to (-0.5, 0.5) by 0.5 * tanh.

    ``old=False``: 3x3 convolutions in -> 224 -> 128 -> out (the 2024 checkpoint).
    ``old=True``: four 3x3 convolutions narrowing linearly from in to out (the 2023-09
    checkpoints, "LatentResidualPredictionOld"; about 33M more parameters in all).
    """

    def __init__(self, in_dim: int, out_dim: int, old: bool = False) -> None:
        super().__init__()
        if old:
            diff = abs(out_dim - in_dim)
            widths = [in_dim, in_dim - diff // 4, in_dim - diff // 2, in_dim - diff * 3 // 4, out_dim]
        else:
            widths = [in_dim, 224, 128, out_dim]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers += ([nn.GELU()] if i else []) + [conv3x3(a, b)]
        self.lrp_transform = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return 0.5 * torch.tanh(self.lrp_transform(x))
