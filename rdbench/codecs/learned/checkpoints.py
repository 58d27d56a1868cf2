"""Loading learned-codec checkpoints as real files come: safely, tolerantly, with clear errors.

What real checkpoints look like (the official MLIC++ ones in particular):

* a dict ``{"epoch", "state_dict", "loss", "optimizer", "aux_optimizer", "lr_scheduler"}``
  (or a bare state_dict);
* keys prefixed ``module.`` (DistributedDataParallel) and/or ``_orig_mod.`` (torch.compile);
* compressai <= 1.2.6 names for the entropy bottleneck's parameters: ``_matrix0``, ``_bias0``,
  ``_factor0`` instead of ``matrices.0``, ``biases.0``, ``factors.0``;
* constant buffers (bounds, pedestals, position indices) that older compressai versions did
  not save: taken from the model;
* the entropy coders' CDF tables (``_quantized_cdf``, ``_offset``, ``_cdf_length``,
  ``scale_table``) saved after ``update()``, or left empty/absent; when present they are kept
  (they are what the original encoder used), when absent ``update()`` computes them.

Files are read with ``torch.load(weights_only=True)``: a pickle that would construct arbitrary
objects (i.e. run code) is refused, never executed. A model class can pick its variant from
the keys through a classmethod ``arch_from_state_dict(state) -> dict`` of constructor
arguments (MLIC++ uses it to choose the 2023-09 "Old" variant).
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

from rdbench.errors import RdbenchError

PREFIXES = ("module.", "_orig_mod.")
CDF_BUFFERS = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")
_OLD_BOTTLENECK = re.compile(r"^(.*entropy_bottleneck)\._(matrix|bias|factor)(\d+)$")
_NEW_NAMES = {"matrix": "matrices", "bias": "biases", "factor": "factors"}
_SHOWN = 4  # keys named per category in a mismatch error


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The normalised state_dict of a checkpoint file (prefixes stripped, old names renamed)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise RdbenchError(f"checkpoint {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing them
            warnings.simplefilter("ignore", UserWarning)
            data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = re.search(r"unsupported global[^\n]*", str(exc), re.IGNORECASE)
        if detail:  # the pickle names a class or function to call: refused, never run
            raise RdbenchError(
                f"refused to load {path}: it contains pickled objects other than tensors and plain "
                f"containers ({detail.group(0).strip()[:120]}), which could run code",
                hint="only load checkpoints from a source you trust; re-save the state_dict alone "
                     "with torch.save({'state_dict': model.state_dict()}, path)") from exc
        raise _corrupt(path, exc) from exc
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise _corrupt(path, exc) from exc
    return normalise_state_dict(data, str(path))


def _corrupt(path: Path, exc: BaseException) -> RdbenchError:
    text = str(exc).strip()
    detail = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)  # torch's useful line, not its preamble
    first = detail.group(1) if detail else (text.splitlines()[0] if text else type(exc).__name__)
    return RdbenchError(f"{path} is truncated or not a PyTorch checkpoint ({first.strip()[:160]})",
                        hint="download the checkpoint again and check its size")


def normalise_state_dict(data: Any, source: str = "checkpoint") -> dict[str, Any]:
    """Unwrap ``{"state_dict": ...}``, strip ``module.``/``_orig_mod.``, rename compressai<=1.2.6 keys."""
    import torch

    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise RdbenchError(f"{source} holds no state_dict (expected a dict of tensors, or one under 'state_dict')")
    state = {}
    for key, value in data.items():
        while key.startswith(PREFIXES):
            key = key.split(".", 1)[1]
        match = _OLD_BOTTLENECK.match(key)
        if match:
            key = f"{match.group(1)}.{_NEW_NAMES[match.group(2)]}.{match.group(3)}"
        state[key] = value
    return state


def _is_cdf(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in CDF_BUFFERS


def check_compatible(model: Any, state: dict[str, Any], source: str) -> None:
    """Raise one error naming the missing, unexpected and mis-shaped keys (first few + counts).

    Only missing *parameters* count: buffers are constants of the code (bounds, pedestals,
    position indices) or CDF tables, which older compressai versions may not have saved.
    """
    expected = model.state_dict()
    learned = {name for name, _ in model.named_parameters()}
    missing = [k for k in expected if k not in state and k in learned]
    unexpected = [k for k in state if k not in expected]
    misshaped = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
                 if k in state and not _is_cdf(k) and tuple(state[k].shape) != tuple(v.shape)]
    if not (missing or unexpected or misshaped):
        return
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped (file != model)", misshaped)):
        if keys:
            more = f", ... {len(keys) - _SHOWN} more" if len(keys) > _SHOWN else ""
            parts.append(f"{len(keys)} {label}: {', '.join(keys[:_SHOWN])}{more}")
    raise RdbenchError(f"{source} does not fit {type(model).__name__}: " + "; ".join(parts),
                       hint="check that the checkpoint is for this codec and its [params] (N, M, slices)")


def load_state(model: Any, state: dict[str, Any], source: str = "checkpoint") -> Any:
    """Load a normalised state_dict into a compressai model, computing CDF tables when absent."""
    check_compatible(model, state, source)
    own = model.state_dict()
    state = {**{k: v for k, v in own.items() if k not in state}, **state}  # constant buffers not saved
    tables_present = all(k in state and state[k].numel() > 0 for k in own if _is_cdf(k))
    if not tables_present:  # keep the model's empty tables; update() fills them below
        state = {k: v for k, v in state.items() if not _is_cdf(k)} | {k: v for k, v in own.items() if _is_cdf(k)}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # dtype or buffer surprises check_compatible cannot see
        raise RdbenchError(f"{source} does not load into {type(model).__name__}: "
                           f"{' '.join(str(exc).split())[:300]}") from exc
    if not tables_present:
        model.update(force=True)
    return model


def load_checkpoint(path: str | Path, model_class: type, **arch: Any) -> Any:
    """A ``model_class`` instance (eval mode, on CPU) with the weights of ``path``.

    ``arch`` are constructor arguments; the class's ``arch_from_state_dict`` (if any) fills in
    those not given, e.g. MLIC++'s ``old`` flag.
    """
    state = read_checkpoint(path)
    pick = getattr(model_class, "arch_from_state_dict", None)
    if pick is not None:
        arch = {**pick(state), **arch}
    model = model_class(**arch)
    return load_state(model, state, str(path)).eval()
