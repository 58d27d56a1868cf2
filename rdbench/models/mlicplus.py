"""MLIC+: the multi-reference entropy model MEM+ with checkerboard attention as local context.

Written from the paper (Jiang et al., ACM MM 2023, arXiv 2211.07273; no public code). Shared
parts and the list of ambiguities resolved are in :mod:`rdbench.models.mlic_layers`; this
module adds MEM+'s local context.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rdbench.models.mlic_layers import MultiReferenceModel, even_anchor_mask


class CheckerboardAttention(nn.Module):
    """Local context by attention from every position to the decoded anchors of its window.

    Ambiguities and choices:

    * Window: non-overlapping ``window x window`` latent windows (default 8), no shift. The
      paper's checkerboard attention is local; the shifted, overlapping windows are an MLIC++
      refinement, so they are left out here. Its cost is linear in the number of positions.
    * Queries must not depend on the (unknown) non-anchor value itself, so tokens are built by
      a 3x3 convolution of the anchor-only map (every token is a function of decoded anchors);
      keys and values are restricted to anchor positions with a -inf logit mask.
    * Single head, ``dim`` channels, residual MLP after the attention.
    """

    def __init__(self, slice_ch: int, out_ch: int, window: int = 8, dim: int = 64) -> None:
        super().__init__()
        if window % 2:
            raise ValueError("checkerboard attention windows must have an even side")
        self.window = window
        self.embed = nn.Conv2d(slice_ch, dim, 3, padding=1)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.out = nn.Conv2d(dim, out_ch, 1)

    def forward(self, anchors_hat: Tensor) -> Tensor:
        b, _, h, w = anchors_hat.shape
        s = self.window
        ph, pw = (-h) % s, (-w) % s
        tokens = self.embed(F.pad(anchors_hat, (0, pw, 0, ph)))
        hp, wp = h + ph, w + pw
        # keys allowed: anchors inside the original (unpadded) latent
        valid = F.pad(even_anchor_mask(h, w, anchors_hat.device), (0, pw, 0, ph))
        d = tokens.shape[1]

        def windows(t: Tensor) -> Tensor:  # (B, C, Hp, Wp) -> (B * nW, s*s, C)
            c = t.shape[1]
            t = t.view(t.shape[0], c, hp // s, s, wp // s, s).permute(0, 2, 4, 3, 5, 1)
            return t.reshape(-1, s * s, c)

        x = windows(tokens)
        keep = windows(valid.expand(b, -1, -1, -1)).transpose(1, 2) > 0
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        logits = (q @ k.transpose(1, 2)) / math.sqrt(d)
        attn = torch.softmax(logits.masked_fill(~keep, float("-inf")), dim=-1)
        x = x + self.proj(attn @ v)
        x = x + self.mlp(x)
        x = x.view(b, hp // s, wp // s, s, s, d).permute(0, 5, 1, 3, 2, 4).reshape(b, d, hp, wp)
        return self.out(x[:, :, :h, :w])


class MLICPlus(MultiReferenceModel):
    """MLIC+ = transforms + hyperprior + MEM+ (channel, checkerboard-attention local, global contexts)."""

    def make_local_context(self, slice_ch: int, out_ch: int) -> nn.Module:
        return CheckerboardAttention(slice_ch, out_ch)
