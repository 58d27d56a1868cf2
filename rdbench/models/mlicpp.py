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

The model skeleton, slice loop and entropy coding are :class:`MultiReferenceModel`, shared with
MLIC and MLIC+ (:mod:`rdbench.models.mlic`, :mod:`rdbench.models.mlicplus`), which differ from
MLIC++ only in their context modules.
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
#: Builds a slice's local context from the slice width (2 x width out, read at non-anchors).
LocalFactory = Callable[[int], nn.Module]
#: Builds a slice's intra-slice global context from the slice width (2 x width out).
IntraFactory = Callable[[int], nn.Module]
#: Builds slice i's inter-slice global context: (i x width in, 2 x width out, heads of 32 channels).
InterFactory = Callable[..., nn.Module]


class MultiReferenceModel(CompressionModel):
    """The MLIC family's model: MLIC++'s transforms, hyperprior and entropy model, one slice loop.

    MLIC, MLIC+ and MLIC++ differ only in three context modules, which the subclass names by
    factory: ``local`` (reads the decoded anchors of the slice), ``intra`` (the attention of the
    previous slice applied to them) and ``inter`` (over all decoded slices; ``None`` when the
    model has none, as MLIC). Every other block, the parameter networks' input order, the
    latent residual prediction (LRP) after each pass, the odd-parity checkerboard, slice 0
    without zero-padded contexts and the rANS coding are MLIC++'s, so one loop serves all three
    (``docs/mlic-fidelity.md`` section 6).

    ``old=True`` builds the 2023-09 synthesis and LRP ("SynthesisTransformOld" and
    "LatentResidualPredictionOld"); :meth:`arch_from_state_dict` tells which a checkpoint needs.
    """

    def __init__(self, N: int, M: int, slices: int, old: bool, *, local: LocalFactory, intra: IntraFactory,
                 inter: InterFactory | None) -> None:
        super().__init__()
        if M % slices:
            raise ValueError(f"M={M} channels cannot be split into {slices} equal slices")
        cs = M // slices
        if cs % 2:
            raise ValueError(f"slices of {cs} channels: the intra-slice context's two heads need an even width")
        if inter is not None and cs % 32:
            raise ValueError(f"slices of {cs} channels: {type(self).__name__}'s inter-slice heads need multiples of 32")
        self.N, self.M, self.num_slices, self.slice_ch, self.old = N, M, slices, cs, old
        # registration order = the official MLIC++ state_dict order
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.g_a = AnalysisTransform(N, M)
        self.g_s = SynthesisTransform(N, M, old=old)
        self.h_a = HyperAnalysis(M, N)
        self.h_s = HyperSynthesis(M, N)
        self.gaussian_conditional = GaussianConditional(None)
        self.local_context = nn.ModuleList(local(cs) for _ in range(slices))
        # index 0 is None in the official ModuleLists (slice 0 has no decoded slices to read)
        self.channel_context = nn.ModuleList(
            [None] + [ChannelContext(cs * i, cs) for i in range(1, slices)])
        if inter is None:
            self.global_inter_context = None
        else:
            self.global_inter_context = nn.ModuleList(
                [None] + [inter(cs * i, cs * 2, heads=cs * i // 32) for i in range(1, slices)])
        self.global_intra_context = nn.ModuleList([None] + [intra(cs) for _ in range(1, slices)])
        shared = cs * 4 + (cs * 2 if inter is not None else 0)  # channel (+ inter) context, i > 0
        self.entropy_parameters_anchor = nn.ModuleList(
            EntropyParameters(M * 2 + (shared if i else 0), cs * 2) for i in range(slices))
        self.entropy_parameters_nonanchor = nn.ModuleList(  # + local, and intra for i > 0
            EntropyParameters(M * 2 + cs * 2 + (shared + cs * 2 if i else 0), cs * 2) for i in range(slices))
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
        """y_hat from the hyperprior features, getting each half-slice from the given passes.

        The parameter networks read [inter, channel, hyper] (anchors) and [local, intra, inter,
        channel, hyper] (non-anchors), leaving out the contexts a slice or model does not have.
        """
        _, hyper_means = hyper.chunk(2, 1)
        decoded: list[Tensor] = []
        for i in range(self.num_slices):
            shared = self._decoded_context(i, decoded)
            scales, means = self.entropy_parameters_anchor[i](torch.cat([*shared, hyper], dim=1)).chunk(2, 1)
            anchors = anchor_pass(i, keep_anchor(scales), keep_anchor(means))
            lrp = self.lrp_anchor[i](torch.cat([hyper_means, *decoded, anchors], dim=1))
            anchors = anchors + keep_anchor(lrp)

            local = self.local_context[i](anchors)  # anchors only: zeros at non-anchors
            intra = [self.global_intra_context[i](decoded[-1], anchors)] if i else []
            nonanchor_in = torch.cat([local, *intra, *shared, hyper], dim=1)
            scales, means = self.entropy_parameters_nonanchor[i](nonanchor_in).chunk(2, 1)
            nonanchors = nonanchor_pass(i, keep_nonanchor(scales), keep_nonanchor(means))
            lrp = self.lrp_nonanchor[i](torch.cat([hyper_means, *decoded, nonanchors + anchors], dim=1))
            nonanchors = nonanchors + keep_nonanchor(lrp)
            decoded.append(nonanchors + anchors)
        return torch.cat(decoded, dim=1)

    def _decoded_context(self, i: int, decoded: list[Tensor]) -> list[Tensor]:
        """[inter, channel] contexts of slice i from the decoded slices: fewer without inter, none at 0."""
        if not i:
            return []
        previous = torch.cat(decoded, dim=1)
        inter = [self.global_inter_context[i](previous)] if self.global_inter_context is not None else []
        return [*inter, self.channel_context[i](previous)]

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


class MLICPlusPlus(MultiReferenceModel):
    """MLIC++ with N transform channels, M latent channels in ``slices`` slices.

    Its contexts have linear complexity: the checkerboard attention of 5x5 windows, and the
    linear intra- and inter-slice global contexts. ``old=True`` builds the variant of the
    2023-09 checkpoints (see :class:`MultiReferenceModel`).
    """

    def __init__(self, N: int = 192, M: int = 320, slices: int = 10, old: bool = False) -> None:
        super().__init__(N, M, slices, old, local=CheckerboardAttentionContext, intra=LinearGlobalIntraContext,
                         inter=LinearGlobalInterContext)


def _ste_round(x: Tensor) -> Tensor:
    """Rounding with a straight-through gradient; its value is exactly ``torch.round(x)``."""
    return (torch.round(x) - x).detach() + x
