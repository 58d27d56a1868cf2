"""MLIC++: linear-complexity multi-reference entropy model (Jiang et al., arXiv 2307.15421).

Written for rdbench from the paper and the facts of the official implementation
(JiangWeibeta/MLIC, ``MLIC++/models/mlicpp.py``); blocks are in
:mod:`rdbench.models.mlicpp_layers`. The ``state_dict`` has exactly the names, shapes and dtypes
of the official model (``../shared/reference/mlicpp/state_dict_keys.txt``), and with
``old=True`` those of the 2023-09 checkpoints (``state_dict_keys_old.txt``).

Per slice i of the 10 (32 channels each), in two checkerboard passes:

* anchors: parameters from the hyperprior (+ channel context and linear inter-slice global
  context of the decoded slices for i > 0), then latent residual prediction (LRP);
* non-anchors: additionally the checkerboard-attention local context of the decoded anchors
  and (i > 0) the linear intra-slice global context; then LRP again.

Choices and inferences (not stated by the official code as an interface):

* ``forward`` returns ``{"x_hat", "likelihoods": {"y", "z"}}`` (compressai's key names; the
  official code calls them ``y_likelihoods``/``z_likelihoods``).
* ``decompress`` clamps ``x_hat`` to [0, 1] as compressai's models do (the official code clamps
  later, when converting to an image); the values are otherwise the same.
* ``compress`` codes one image at a time (batch size 1), all slices into one rANS string.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from rdbench.models.mlicpp_layers import (
    AnalysisTransform,
    ChannelContext,
    CheckerboardAttentionContext,
    EntropyParameters,
    HyperAnalysis,
    HyperSynthesis,
    LatentResidualPrediction,
    LinearGlobalInterContext,
    LinearGlobalIntraContext,
    SynthesisTransform,
    keep_anchor,
    keep_nonanchor,
    squeeze_anchor,
    squeeze_nonanchor,
    unsqueeze_anchor,
    unsqueeze_nonanchor,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.ans import BufferedRansEncoder, RansDecoder
    from compressai.entropy_models import EntropyBottleneck, GaussianConditional
    from compressai.models import CompressionModel

#: Input sides must be a multiple of this (16 for the transforms x 4 for the hyperprior).
STRIDE = 64

# A pass codes one checkerboard half of a slice: (slice index, scales, means) -> decoded half
# (zeros on the other half). The same model code then serves forward, compress and decompress.
Pass = Callable[[int, Tensor, Tensor], Tensor]


class MLICPlusPlus(CompressionModel):
    """MLIC++ with N transform channels, M latent channels in ``slices`` slices.

    ``old=True`` builds the variant of the 2023-09 checkpoints (``SynthesisTransformOld`` and
    ``LatentResidualPredictionOld``); :meth:`arch_from_state_dict` tells which a
    checkpoint needs.
    """

    def __init__(self, N: int = 192, M: int = 320, slices: int = 10, old: bool = False) -> None:
        super().__init__()
        if M % slices:
            raise ValueError(f"M={M} channels cannot be split into {slices} equal slices")
        cs = M // slices
        if cs % 32:
            raise ValueError(f"slices of {cs} channels: MLIC++'s inter-slice heads need multiples of 32")
        self.N, self.M, self.num_slices, self.slice_ch, self.old = N, M, slices, cs, old
        # registration order = the official state_dict order
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.g_a = AnalysisTransform(N, M)
        self.g_s = SynthesisTransform(N, M, old=old)
        self.h_a = HyperAnalysis(M, N)
        self.h_s = HyperSynthesis(M, N)
        self.gaussian_conditional = GaussianConditional(None)
        self.local_context = nn.ModuleList(CheckerboardAttentionContext(cs) for _ in range(slices))
        # index 0 is None in the official ModuleLists (slice 0 has no decoded slices to read)
        self.channel_context = nn.ModuleList(
            [None] + [ChannelContext(cs * i, cs) for i in range(1, slices)])
        self.global_inter_context = nn.ModuleList(
            [None] + [LinearGlobalInterContext(cs * i, cs * 2, heads=cs * i // 32) for i in range(1, slices)])
        self.global_intra_context = nn.ModuleList(
            [None] + [LinearGlobalIntraContext(cs) for _ in range(1, slices)])
        self.entropy_parameters_anchor = nn.ModuleList(
            EntropyParameters(M * 2 + (cs * 6 if i else 0), cs * 2) for i in range(slices))
        self.entropy_parameters_nonanchor = nn.ModuleList(
            EntropyParameters(M * 2 + (cs * 10 if i else cs * 2), cs * 2) for i in range(slices))
        self.lrp_anchor = nn.ModuleList(
            LatentResidualPrediction(M + (i + 1) * cs, cs, old=old) for i in range(slices))
        self.lrp_nonanchor = nn.ModuleList(
            LatentResidualPrediction(M + (i + 1) * cs, cs, old=old) for i in range(slices))

    @classmethod
    def arch_from_state_dict(cls, state: dict) -> dict:
        """Constructor arguments a checkpoint needs: ``old=True`` for the 2023-09 weights.

        Inferred from the keys: only the Old synthesis has a skip convolution in its first
        block, and only the Old LRP has a fourth convolution (``lrp_transform.6``).
        """
        old = "g_s.synthesis_transform.0.skip.weight" in state or "lrp_anchor.0.lrp_transform.6.weight" in state
        return {"old": old}

    # -- the slice loop shared by forward, compress and decompress ---------------------------

    def _decode_slices(self, hyper: Tensor, anchor_pass: Pass, nonanchor_pass: Pass) -> Tensor:
        """y_hat from the hyperprior features, getting each half-slice from the given passes."""
        _, hyper_means = hyper.chunk(2, 1)
        decoded: list[Tensor] = []
        for i in range(self.num_slices):
            if i:
                previous = torch.cat(decoded, dim=1)
                inter = self.global_inter_context[i](previous)
                channel = self.channel_context[i](previous)
                anchor_in = torch.cat([inter, channel, hyper], dim=1)
            else:
                anchor_in = hyper
            scales, means = self.entropy_parameters_anchor[i](anchor_in).chunk(2, 1)
            anchors = anchor_pass(i, keep_anchor(scales), keep_anchor(means))
            lrp = self.lrp_anchor[i](torch.cat([hyper_means, *decoded, anchors], dim=1))
            anchors = anchors + keep_anchor(lrp)

            local = self.local_context[i](anchors)
            if i:
                intra = self.global_intra_context[i](decoded[-1], anchors)
                nonanchor_in = torch.cat([local, intra, inter, channel, hyper], dim=1)
            else:
                nonanchor_in = torch.cat([local, hyper], dim=1)
            scales, means = self.entropy_parameters_nonanchor[i](nonanchor_in).chunk(2, 1)
            nonanchors = nonanchor_pass(i, keep_nonanchor(scales), keep_nonanchor(means))
            lrp = self.lrp_nonanchor[i](torch.cat([hyper_means, *decoded, nonanchors + anchors], dim=1))
            nonanchors = nonanchors + keep_nonanchor(lrp)
            decoded.append(nonanchors + anchors)
        return torch.cat(decoded, dim=1)

    # -- training / evaluation forward ---------------------------------------------------------

    def forward(self, x: Tensor) -> dict:
        """Rate-distortion forward: straight-through rounding around the means, as in training."""
        y = self.g_a(x)
        z = self.h_a(y)
        _, z_likelihoods = self.entropy_bottleneck(z)
        medians = self.entropy_bottleneck._get_medians()
        z_hat = _ste_round(z - medians) + medians
        y_slices = y.chunk(self.num_slices, dim=1)
        anchor_params: dict[int, tuple[Tensor, Tensor]] = {}
        likelihoods: list[Tensor] = []

        def anchor_pass(i: int, scales: Tensor, means: Tensor) -> Tensor:
            anchor_params[i] = (scales, means)
            return _ste_round(keep_anchor(y_slices[i]) - means) + means

        def nonanchor_pass(i: int, scales: Tensor, means: Tensor) -> Tensor:
            scales_a, means_a = anchor_params.pop(i)
            _, lik = self.gaussian_conditional(y_slices[i], scales_a + scales, means_a + means)
            likelihoods.append(lik)
            return _ste_round(keep_nonanchor(y_slices[i]) - means) + means

        y_hat = self._decode_slices(self.h_s(z_hat), anchor_pass, nonanchor_pass)
        return {"x_hat": self.g_s(y_hat),
                "likelihoods": {"y": torch.cat(likelihoods, dim=1), "z": z_likelihoods}}

    # -- entropy coding ----------------------------------------------------------------------

    def _coder_tables(self) -> tuple[list, list, list]:
        gc = self.gaussian_conditional
        return gc.quantized_cdf.tolist(), gc.cdf_length.reshape(-1).int().tolist(), gc.offset.reshape(-1).int().tolist()

    def compress(self, x: Tensor) -> dict:
        """Code one image: {"strings": [[y_string], [z_string]], "shape": z's (H, W), "y_hat"}.

        ``y_hat`` is the encoder's quantised latent, so a caller can check that the decoder
        reproduced it (it differs only if encoder and decoder computed different floats).

        Symbols are gathered in the official order (slice by slice; anchors then non-anchors;
        channel, row, column within a half), so the string is the official one bit for bit.
        """
        if x.shape[0] != 1:
            raise ValueError("compress codes one image at a time (batch size 1)")
        y = self.g_a(x)
        z = self.h_a(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])  # what the decoder sees
        y_slices = y.chunk(self.num_slices, dim=1)
        gc = self.gaussian_conditional
        symbols: list[int] = []
        indexes: list[int] = []

        def coding_pass(squeeze: Callable, unsqueeze: Callable) -> Pass:
            def run(i: int, scales: Tensor, means: Tensor) -> Tensor:
                means = squeeze(means)
                q = gc.quantize(squeeze(y_slices[i]), "symbols", means)
                symbols.extend(q.reshape(-1).tolist())
                indexes.extend(gc.build_indexes(squeeze(scales)).reshape(-1).tolist())
                return unsqueeze(q + means)
            return run

        y_hat = self._decode_slices(self.h_s(z_hat), coding_pass(squeeze_anchor, unsqueeze_anchor),
                                    coding_pass(squeeze_nonanchor, unsqueeze_nonanchor))
        encoder = BufferedRansEncoder()
        encoder.encode_with_indexes(symbols, indexes, *self._coder_tables())
        return {"strings": [[encoder.flush()], z_strings], "shape": z.shape[-2:], "y_hat": y_hat}

    def decompress(self, strings: list, shape: tuple[int, int]) -> dict:
        """Inverse of :meth:`compress`: {"x_hat": (1, 3, 64*zh, 64*zw) in [0, 1], "y_hat"}."""
        z_hat = self.entropy_bottleneck.decompress(strings[1], shape)
        gc = self.gaussian_conditional
        tables = self._coder_tables()
        decoder = RansDecoder()
        decoder.set_stream(strings[0][0])

        def decoding_pass(squeeze: Callable, unsqueeze: Callable) -> Pass:
            def run(i: int, scales: Tensor, means: Tensor) -> Tensor:
                scales, means = squeeze(scales), squeeze(means)
                values = decoder.decode_stream(gc.build_indexes(scales).reshape(-1).tolist(), *tables)
                q = torch.tensor(values, dtype=torch.float32).reshape(scales.shape).to(means.device)
                return unsqueeze(q + means)
            return run

        y_hat = self._decode_slices(self.h_s(z_hat), decoding_pass(squeeze_anchor, unsqueeze_anchor),
                                    decoding_pass(squeeze_nonanchor, unsqueeze_nonanchor))
        return {"x_hat": self.g_s(y_hat).clamp_(0, 1), "y_hat": y_hat}


def _ste_round(x: Tensor) -> Tensor:
    """Rounding with a straight-through gradient; its value is exactly ``torch.round(x)``."""
    return (torch.round(x) - x).detach() + x
