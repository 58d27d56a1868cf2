"""Blocks shared by MLIC (MEM) and MLIC+ (MEM+), and the multi-reference model skeleton.

MLIC and MLIC+ (Jiang et al., "MLIC: Multi-Reference Entropy Model for Learned Image
Compression", ACM MM 2023, arXiv 2211.07273) have no public code or weights; everything here
is written from the paper's description. They share the transforms, the hyperprior, the slice
split with channel-wise context, and the two *global* context modules; they differ only in the
*local* context module (stacked checkerboard convolutions for MEM, checkerboard attention for
MEM+), which a subclass supplies through :meth:`MultiReferenceModel.make_local_context`.

The point of implementing them in rdbench is the complexity study: both global context modules
compute an explicit softmax attention map between latent positions, so their cost is quadratic
in the number of latent positions (MLIC++ replaces them with a linear decomposition).

Places where the paper is ambiguous, and the choice made (each is repeated where it is coded):

1. Checkerboard split: anchors are latent positions with ``(row + col) % 2 == 0``; they are
   coded first, non-anchors second (two passes per slice, as in He et al. 2021).
2. Anchor pass context: anchors receive no local and no intra-slice global context (nothing of
   the current slice is decoded yet); those inputs are zeros for the anchor parameter network.
3. Separate parameter networks for anchors and non-anchors (1x1 convolutions + GELU), since the
   two passes see different context sets.
4. Intra-slice global context: the attention map is computed on the previous slice
   ``y_hat[i-1]`` (queries at every position, keys at anchor positions) and applied to the
   values of the current slice's decoded anchors; its output is used for non-anchors only.
5. Inter-slice global context: the paper does not spell out queries/keys; here queries come
   from the channel context of the current slice (a function of ``y_hat[<i]``), keys and values
   from all previously decoded slices, full softmax attention over all latent positions.
6. Attention width: single head, ``attn_dim`` channels (default 64); scaled dot product.
7. No latent residual prediction (LRP) is added.
8. Transforms: residual-block transforms with GDN and attention blocks in the style of
   Cheng et al. 2020 (the MLIC paper builds on that family); the same for MLIC and MLIC+.
9. Slice 0 has no channel, inter-slice or intra-slice context (zeros), only the hyperprior
   and its own local context.
10. Sizes: N=192 transform channels, M=320 latent channels in 10 equal slices by default (the
    configuration the MLIC family publishes for MLIC++); all three are constructor arguments.
11. Hyperprior: one hyper-synthesis output of 2M channels is given whole to every slice's
    parameter networks (rather than split per slice), with a factorized prior on z.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

with warnings.catch_warnings():  # compressai's video models warn about deprecated torch APIs on import
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.ans import BufferedRansEncoder, RansDecoder
    from compressai.entropy_models import EntropyBottleneck, GaussianConditional
    from compressai.layers import (
        AttentionBlock,
        ResidualBlock,
        ResidualBlockUpsample,
        ResidualBlockWithStride,
        conv3x3,
        subpel_conv3x3,
    )
    from compressai.models import CompressionModel
    from compressai.models.utils import conv, deconv

#: Input sides must be a multiple of this (16 for the transforms x 4 for the hyperprior).
STRIDE = 64


def even_anchor_mask(height: int, width: int, device: torch.device | str = "cpu") -> Tensor:
    """(1, 1, H, W) float mask, 1 at anchors. Choice 1: anchors where (row + col) is even.

    The MLIC/MLIC+ checkerboard; MLIC++ uses the other parity
    (:func:`rdbench.models.mlicpp_layers.odd_anchor_mask`).
    """
    rows = torch.arange(height, device=device).view(-1, 1)
    cols = torch.arange(width, device=device).view(1, -1)
    return ((rows + cols) % 2 == 0).float().view(1, 1, height, width)


def anchor_index(height: int, width: int, device: torch.device | str = "cpu") -> Tensor:
    """Flat indices of the anchors (even ``row + col``) of an (H, W) grid.

    Computed on the CPU and then moved, so the model also runs on the ``meta`` device (shapes
    only), which is how FLOPs are counted at sizes that would not fit in memory.
    """
    return even_anchor_mask(height, width).flatten().nonzero().squeeze(1).to(device)


def ste_round(x: Tensor) -> Tensor:
    """Rounding with a straight-through gradient (the latent fed to contexts during training)."""
    return (torch.round(x) - x).detach() + x


# --------------------------------------------------------------------------------------------
# transforms (choice 8)


def analysis_transform(n: int, m: int) -> nn.Module:
    return nn.Sequential(
        ResidualBlockWithStride(3, n, stride=2),
        ResidualBlock(n, n),
        ResidualBlockWithStride(n, n, stride=2),
        AttentionBlock(n),
        ResidualBlock(n, n),
        ResidualBlockWithStride(n, n, stride=2),
        ResidualBlock(n, n),
        conv3x3(n, m, stride=2),
        AttentionBlock(m),
    )


def synthesis_transform(n: int, m: int) -> nn.Module:
    return nn.Sequential(
        AttentionBlock(m),
        ResidualBlock(m, n),
        ResidualBlockUpsample(n, n, 2),
        ResidualBlock(n, n),
        ResidualBlockUpsample(n, n, 2),
        AttentionBlock(n),
        ResidualBlock(n, n),
        ResidualBlockUpsample(n, n, 2),
        ResidualBlock(n, n),
        subpel_conv3x3(n, 3, 2),
    )


def hyper_analysis(n: int, m: int) -> nn.Module:
    return nn.Sequential(conv(m, n, 3, 1), nn.GELU(), conv(n, n, 5, 2), nn.GELU(), conv(n, n, 5, 2))


def hyper_synthesis(n: int, m: int) -> nn.Module:
    """Hyperprior features with 2M channels, given whole to every slice's parameter network."""
    return nn.Sequential(deconv(n, m, 5, 2), nn.GELU(), deconv(m, m * 3 // 2, 5, 2), nn.GELU(),
                         conv(m * 3 // 2, m * 2, 3, 1))


# --------------------------------------------------------------------------------------------
# context modules


class ChannelContext(nn.Module):
    """Channel-wise context: convolutions over all previously decoded slices."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        mid = max(out_ch, (in_ch + out_ch) // 2)
        self.net = nn.Sequential(conv(in_ch, mid, 3, 1), nn.GELU(), conv(mid, mid, 3, 1), nn.GELU(),
                                 conv(mid, out_ch, 3, 1))

    def forward(self, decoded: Tensor) -> Tensor:
        return self.net(decoded)


def _softmax_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Explicit softmax attention: q (B, Lq, d), k (B, Lk, d), v (B, Lk, c) -> (B, Lq, c).

    The (Lq x Lk) attention map is materialised on purpose: that quadratic map is what the
    MLIC paper computes and what the complexity study measures.
    """
    attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)
    return attn @ v


def _tokens(x: Tensor) -> Tensor:
    return x.flatten(2).transpose(1, 2)  # (B, C, H, W) -> (B, HW, C)


def _image(tokens: Tensor, height: int, width: int) -> Tensor:
    return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, height, width)


class IntraSliceGlobalContext(nn.Module):
    """Attention map of the previous slice, applied to the current slice's anchors (choice 4).

    Queries: every position of ``y_hat[i-1]``; keys: anchor positions of ``y_hat[i-1]``; values:
    the decoded anchors of ``y_hat[i]``. Cost O(L * L/2) for L latent positions.
    """

    def __init__(self, slice_ch: int, attn_dim: int, out_ch: int) -> None:
        super().__init__()
        self.q = nn.Conv2d(slice_ch, attn_dim, 1)
        self.k = nn.Conv2d(slice_ch, attn_dim, 1)
        self.v = nn.Conv2d(slice_ch, attn_dim, 1)
        self.out = nn.Sequential(conv(attn_dim, out_ch, 3, 1), nn.GELU(), conv(out_ch, out_ch, 1, 1))

    def forward(self, previous: Tensor, current_anchors: Tensor) -> Tensor:
        _, _, h, w = previous.shape
        anchors = anchor_index(h, w, previous.device)
        q = _tokens(self.q(previous))
        k = _tokens(self.k(previous)).index_select(1, anchors)
        v = _tokens(self.v(current_anchors)).index_select(1, anchors)
        return self.out(_image(_softmax_attention(q, k, v), h, w))


class InterSliceGlobalContext(nn.Module):
    """Global attention over all previously decoded slices (choice 5). Cost O(L^2)."""

    def __init__(self, query_ch: int, decoded_ch: int, attn_dim: int, out_ch: int) -> None:
        super().__init__()
        self.q = nn.Conv2d(query_ch, attn_dim, 1)
        self.k = nn.Conv2d(decoded_ch, attn_dim, 1)
        self.v = nn.Conv2d(decoded_ch, attn_dim, 1)
        self.out = nn.Sequential(conv(attn_dim, out_ch, 3, 1), nn.GELU(), conv(out_ch, out_ch, 1, 1))

    def forward(self, query_features: Tensor, decoded: Tensor) -> Tensor:
        _, _, h, w = decoded.shape
        ctx = _softmax_attention(_tokens(self.q(query_features)), _tokens(self.k(decoded)), _tokens(self.v(decoded)))
        return self.out(_image(ctx, h, w))


def parameter_network(in_ch: int, out_ch: int) -> nn.Module:
    """1x1 convolutions turning the concatenated contexts into (means, scales) (choice 3)."""
    mid = (in_ch + out_ch) // 2
    return nn.Sequential(nn.Conv2d(in_ch, mid, 1), nn.GELU(), nn.Conv2d(mid, mid, 1), nn.GELU(),
                         nn.Conv2d(mid, out_ch, 1))


# --------------------------------------------------------------------------------------------
# the model skeleton


class MultiReferenceModel(CompressionModel):
    """Transforms + hyperprior + multi-reference entropy model; subclasses give the local context.

    ``forward(x)`` returns ``{"x_hat", "likelihoods": {"y", "z"}}`` (trainable: additive noise in
    the Gaussian conditional, straight-through rounding for the contexts). ``compress`` /
    ``decompress`` code every slice in two checkerboard passes with compressai's rANS coder; the
    encoder computes every distribution parameter from exactly the values the decoder will have,
    so a round trip on the same machine reproduces ``y_hat`` bit for bit.
    """

    def __init__(self, N: int = 192, M: int = 320, slices: int = 10, attn_dim: int = 64) -> None:
        super().__init__()
        if M % slices:
            raise ValueError(f"M={M} channels cannot be split into {slices} equal slices")
        self.N, self.M, self.num_slices = N, M, slices
        self.slice_ch = cs = M // slices
        ctx = 2 * cs  # every context module outputs 2 * slice channels
        self.g_a = analysis_transform(N, M)
        self.g_s = synthesis_transform(N, M)
        self.h_a = hyper_analysis(N, M)
        self.h_s = hyper_synthesis(N, M)
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.gaussian_conditional = GaussianConditional(None)
        self.channel_context = nn.ModuleList(
            [ChannelContext(i * cs, ctx) for i in range(1, slices)])
        self.inter_context = nn.ModuleList(
            [InterSliceGlobalContext(ctx, i * cs, attn_dim, ctx) for i in range(1, slices)])
        self.intra_context = nn.ModuleList(
            [IntraSliceGlobalContext(cs, attn_dim, ctx) for _ in range(1, slices)])
        self.local_context = nn.ModuleList([self.make_local_context(cs, ctx) for _ in range(slices)])
        common = 2 * M + 2 * ctx  # hyper, channel, inter-slice
        self.anchor_params = nn.ModuleList([parameter_network(common, 2 * cs) for _ in range(slices)])
        self.nonanchor_params = nn.ModuleList(
            [parameter_network(common + 2 * ctx, 2 * cs) for _ in range(slices)])  # + local, intra

    def make_local_context(self, slice_ch: int, out_ch: int) -> nn.Module:
        """Module mapping decoded anchors (non-anchors zeroed) to context for non-anchors."""
        raise NotImplementedError

    # -- per-slice distribution parameters -----------------------------------------------

    def _common_context(self, i: int, hyper: Tensor, decoded: list[Tensor]) -> list[Tensor]:
        """Inputs shared by both passes of slice i: hyperprior, channel and inter-slice context."""
        if i == 0:
            zeros = hyper.new_zeros(hyper.shape[0], 2 * 2 * self.slice_ch, *hyper.shape[2:])
            return [hyper, zeros]  # choice 9
        previous = torch.cat(decoded, dim=1)
        channel = self.channel_context[i - 1](previous)
        inter = self.inter_context[i - 1](channel, previous)
        return [hyper, channel, inter]

    def _anchor_params(self, i: int, common: list[Tensor]) -> tuple[Tensor, Tensor]:
        means, scales = self.anchor_params[i](torch.cat(common, dim=1)).chunk(2, dim=1)
        return means, scales

    def _nonanchor_params(self, i: int, common: list[Tensor], anchors_hat: Tensor,
                          decoded: list[Tensor]) -> tuple[Tensor, Tensor]:
        local = self.local_context[i](anchors_hat)
        if i == 0:
            intra = torch.zeros_like(local)  # choice 9
        else:
            intra = self.intra_context[i - 1](decoded[-1], anchors_hat)
        means, scales = self.nonanchor_params[i](torch.cat(common + [local, intra], dim=1)).chunk(2, dim=1)
        return means, scales

    # -- training / evaluation forward ----------------------------------------------------

    def forward(self, x: Tensor) -> dict:
        y = self.g_a(x)
        z = self.h_a(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        hyper = self.h_s(z_hat)
        mask = even_anchor_mask(*y.shape[2:], y.device)
        decoded: list[Tensor] = []
        likelihoods = []
        for i, y_slice in enumerate(y.chunk(self.num_slices, dim=1)):
            common = self._common_context(i, hyper, decoded)
            means_a, scales_a = self._anchor_params(i, common)
            anchors_hat = (ste_round(y_slice - means_a) + means_a) * mask
            means_n, scales_n = self._nonanchor_params(i, common, anchors_hat, decoded)
            means = means_a * mask + means_n * (1 - mask)
            scales = scales_a * mask + scales_n * (1 - mask)
            _, slice_likelihoods = self.gaussian_conditional(y_slice, scales, means)
            likelihoods.append(slice_likelihoods)
            decoded.append(ste_round(y_slice - means) + means)
        x_hat = self.g_s(torch.cat(decoded, dim=1))
        return {"x_hat": x_hat, "likelihoods": {"y": torch.cat(likelihoods, dim=1), "z": z_likelihoods}}

    # -- entropy coding ----------------------------------------------------------------------

    def _coder_tables(self) -> tuple[list, list, list]:
        gc = self.gaussian_conditional
        return gc.quantized_cdf.tolist(), gc.cdf_length.reshape(-1).int().tolist(), gc.offset.reshape(-1).int().tolist()

    def compress(self, x: Tensor) -> dict:
        """Code one image (batch of 1): {"strings": [[y_string], [z_string]], "shape": z size, "y_hat"}.

        ``y_hat`` is the encoder's quantised latent, so a caller can check that the decoder rebuilt it.
        """
        if x.shape[0] != 1:
            raise ValueError("compress codes one image at a time (batch size 1)")
        y = self.g_a(x)
        z = self.h_a(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])  # what the decoder sees
        hyper = self.h_s(z_hat)
        mask = even_anchor_mask(*y.shape[2:], y.device).bool().expand_as(y[:, : self.slice_ch])
        cdf, lengths, offsets = self._coder_tables()
        encoder = BufferedRansEncoder()
        symbols: list[int] = []
        indexes: list[int] = []
        decoded: list[Tensor] = []
        gc = self.gaussian_conditional
        for i, y_slice in enumerate(y.chunk(self.num_slices, dim=1)):
            common = self._common_context(i, hyper, decoded)
            means_a, scales_a = self._anchor_params(i, common)
            q_a = torch.round(y_slice - means_a)
            symbols += q_a[mask].int().tolist()
            indexes += gc.build_indexes(scales_a)[mask].int().tolist()
            anchors_hat = (q_a + means_a) * mask
            means_n, scales_n = self._nonanchor_params(i, common, anchors_hat, decoded)
            q_n = torch.round(y_slice - means_n)
            symbols += q_n[~mask].int().tolist()
            indexes += gc.build_indexes(scales_n)[~mask].int().tolist()
            decoded.append(torch.where(mask, anchors_hat, q_n + means_n))
        encoder.encode_with_indexes(symbols, indexes, cdf, lengths, offsets)
        return {"strings": [[encoder.flush()], z_strings], "shape": z.shape[-2:], "y_hat": torch.cat(decoded, dim=1)}

    def decompress(self, strings: list, shape: tuple[int, int]) -> dict:
        """Inverse of :meth:`compress`: {"x_hat": (1, 3, H, W) in [0, 1], "y_hat"}."""
        z_hat = self.entropy_bottleneck.decompress(strings[1], shape)
        hyper = self.h_s(z_hat)
        h, w = z_hat.shape[2] * 4, z_hat.shape[3] * 4
        mask = even_anchor_mask(h, w, z_hat.device).bool().expand(1, self.slice_ch, h, w)
        cdf, lengths, offsets = self._coder_tables()
        decoder = RansDecoder()
        decoder.set_stream(strings[0][0])
        gc = self.gaussian_conditional
        decoded: list[Tensor] = []
        for i in range(self.num_slices):
            common = self._common_context(i, hyper, decoded)
            means_a, scales_a = self._anchor_params(i, common)
            q_a = torch.zeros_like(means_a)
            values = decoder.decode_stream(gc.build_indexes(scales_a)[mask].int().tolist(), cdf, lengths, offsets)
            q_a[mask] = torch.tensor(values, dtype=q_a.dtype, device=q_a.device)
            anchors_hat = (q_a + means_a) * mask
            means_n, scales_n = self._nonanchor_params(i, common, anchors_hat, decoded)
            q_n = torch.zeros_like(means_n)
            values = decoder.decode_stream(gc.build_indexes(scales_n)[~mask].int().tolist(), cdf, lengths, offsets)
            q_n[~mask] = torch.tensor(values, dtype=q_n.dtype, device=q_n.device)
            decoded.append(torch.where(mask, anchors_hat, q_n + means_n))
        y_hat = torch.cat(decoded, dim=1)
        return {"x_hat": self.g_s(y_hat).clamp_(0, 1), "y_hat": y_hat}


def pad_to_stride(x: Tensor, stride: int = STRIDE) -> tuple[Tensor, tuple[int, int, int, int]]:
    """Replicate-pad (B, C, H, W) on the right/bottom to multiples of ``stride``."""
    h, w = x.shape[2:]
    pad = (0, (-w) % stride, 0, (-h) % stride)
    return (F.pad(x, pad, mode="replicate") if any(pad) else x), pad
