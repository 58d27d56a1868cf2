"""What MLIC and MLIC+ add to MLIC++'s blocks: global contexts with explicit (quadratic) attention.

MLIC and MLIC+ (Jiang et al., "MLIC: Multi-Reference Entropy Model for Learned Image
Compression", ACM MM 2023, arXiv 2211.07273) have no public code or weights. rdbench builds
them as read in ``docs/mlic-fidelity.md`` (section 3 gives the evidence for each choice; it
follows CompressAI PR #357's reading of the paper): the MLIC++ model
(:class:`rdbench.models.mlicpp.MultiReferenceModel`) with other context modules. The point of
having them is the complexity study: their global contexts compute explicit softmax maps
between latent positions, quadratic in the number of positions, where MLIC++ decomposes the
softmax to stay linear.

The choices, as ``docs/mlic-fidelity.md`` lists them (a reading, not the authors' code):

1. Shared with MLIC++ unchanged: the transforms, the hyperprior (its 2M outputs split into
   scales and means, the means feeding LRP), the channel context, the entropy-parameter
   networks with MLIC++'s input order, latent residual prediction (LRP) after each checkerboard
   pass, the odd-parity checkerboard (anchors first), and slice 0 coded from the hyperprior
   (plus its local context for non-anchors) without zero-padded context channels.
2. Sizes: MLIC N=192, M=192 in 6 slices of 32; MLIC+ N=192, M=320 in 10 slices of 32.
3. Synthesis and LRP: the current (2024) blocks; ``old=True`` gives the 2023 ones.
4. Local context: MLIC's stacked checkerboard is three 5x5 convolutions (cs -> cs -> cs -> 2cs,
   GELU between) fed the anchor-only map, so no mask is needed
   (:class:`rdbench.models.mlic.StackedCheckerboardContext`); MLIC+ uses MLIC++'s checkerboard
   attention (5x5 overlapped windows).
5. Intra-slice global context (both): :class:`QuadraticGlobalIntraContext`. Queries are the
   non-anchors of ``y_hat[i-1]``, keys its anchors, values the decoded anchors of ``y_hat[i]``;
   two heads of cs/2 channels, each an explicit (L/2)x(L/2) map; no local exclusion mask.
6. Inter-slice global context: none in MLIC; in MLIC+ :class:`QuadraticGlobalInterContext`,
   queries, keys and values from all decoded slices, heads of 32 channels (i x cs / 32 at
   slice i), each an explicit LxL map.
7. Heads are computed one after the other, as MLIC++'s linear modules do, so peak memory holds
   one attention map at a time: part of the measured memory is this implementation choice.

Layers and names are those of MLIC++'s linear modules (the quadratic classes subclass them and
replace only the per-head attention), so MLIC+ has MLIC++'s exact ``state_dict`` keys and
shapes. ``L`` is the number of latent positions (H x W / 256 of the image).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor

from rdbench.models.mlicpp_layers import (
    LinearGlobalInterContext,
    LinearGlobalIntraContext,
    unsqueeze_nonanchor,
)


def softmax_attention(queries: Tensor, keys: Tensor, values: Tensor) -> Tensor:
    """One head: queries (B, d, Lq), keys (B, d, Lk), values (B, c, Lk) -> (B, c, Lq).

    softmax(QK^T / sqrt(d)) V with the (Lq x Lk) map materialised on purpose: that quadratic map
    is what the MLIC paper computes and what the complexity study measures.
    """
    scale = 1.0 / math.sqrt(queries.shape[1])
    weights = F.softmax((queries * scale).transpose(1, 2) @ keys, dim=-1)  # (B, Lq, Lk)
    return values @ weights.transpose(1, 2)


class QuadraticGlobalIntraContext(LinearGlobalIntraContext):
    """MLIC's intra-slice global context (choice 5): MLIC++'s module with a softmax map per head.

    The map is learnt on the previous slice, between its non-anchors (queries) and anchors
    (keys), and reads the current slice's decoded anchors (values): its output lives at the
    non-anchors, the only positions that use it.
    """

    def attend_head(self, queries: Tensor, keys: Tensor, values: Tensor, height: int, width: int) -> Tensor:
        """Squeezed (B, d, L/2) maps -> (B, d, H, W), zeros at anchors; an (L/2)x(L/2) map."""
        attended = softmax_attention(queries, keys, values)
        return unsqueeze_nonanchor(attended.reshape(*attended.shape[:2], height, width // 2))


class QuadraticGlobalInterContext(LinearGlobalInterContext):
    """MLIC+'s inter-slice global context (choice 6): MLIC++'s module with a softmax map per head."""

    def attend_head(self, queries: Tensor, keys: Tensor, values: Tensor) -> Tensor:
        """Flattened (B, d, L) maps -> (B, d, L) through an LxL map."""
        return softmax_attention(queries, keys, values)
