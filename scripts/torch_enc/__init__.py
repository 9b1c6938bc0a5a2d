"""PyTorch versions of the posbench positional encodings, for the reference.

ENCODINGS maps an encoding name (as in `posbench list encodings`) to a class
with the interface below; it merges the ENCODINGS dicts of the sibling
modules additive (input-site encodings), bias (logit biases) and rotary (the
RoPE family), each imported when present, plus "none" defined here.

    class X(torch.nn.Module):
        def __init__(self, cfg, opts)   # cfg: d, heads, d_head, causal, max_len;
                                        # opts: flattened (dotted) option dict
        n_params: int                   # learnable floats (the model's `enc`)
        logit_scale: float = 1.0
        def input(self, enc, pos, T)          -> Tensor[B,T,d] or None
        def qk(self, enc, x, pos, is_key)     -> Tensor[B,H,T,d_head] or None
        def bias(self, enc, qpos, kpos)       -> Tensor[B,H,Tq,Tk] or None

pos is a LongTensor [B,T] (or [B,T,2] for 2D encodings: x then y); enc is the
1-D tensor of the encoding's learnable parameters (length n_params).
"""

import importlib
import importlib.util

import torch


class NoEncoding(torch.nn.Module):
    """NoPE: no positional information; order only through the causal mask."""

    n_params = 0
    logit_scale = 1.0

    def __init__(self, cfg, opts=None, *extra):
        super().__init__()
        self.cfg = cfg

    def input(self, enc, pos, T):
        return None

    def qk(self, enc, x, pos, is_key):
        return None

    def bias(self, enc, qpos, kpos):
        return None


ENCODINGS = {"none": NoEncoding}
SOURCES = {"none": __name__}  # name -> module that defined it

for _module in ("additive", "bias", "rotary"):
    # A missing sibling is skipped; a broken one raises, so its bug shows.
    if importlib.util.find_spec(f"{__name__}.{_module}") is None:
        continue
    _mod = importlib.import_module(f"{__name__}.{_module}")
    for _name, _cls in getattr(_mod, "ENCODINGS", {}).items():
        if _name in ENCODINGS:
            raise ImportError(f"encoding '{_name}' is defined by both "
                              f"{SOURCES[_name]} and {_mod.__name__}")
        ENCODINGS[_name] = _cls
        SOURCES[_name] = _mod.__name__


class MissingTwin(KeyError):
    """posbench has an encoding that no module here reimplements."""

    def __init__(self, name):
        super().__init__(name)
        self.name = name

    def __str__(self):
        return (f"encoding '{self.name}' has no PyTorch twin: write a class with the "
                f"interface of scripts/torch_enc/__init__.py in additive.py, bias.py or rotary.py "
                f"and add it to that module's ENCODINGS (twins exist for: "
                f"{', '.join(sorted(ENCODINGS))})")


def make(name, cfg, opts):
    """Instantiates encoding `name`; tolerates classes whose constructor takes
    an extra argument after (cfg, opts). MissingTwin when there is none."""
    if name not in ENCODINGS:
        raise MissingTwin(name)
    cls = ENCODINGS[name]
    try:
        enc = cls(cfg, opts)
    except TypeError as first:
        try:
            enc = cls(cfg, opts, None)
        except TypeError:
            raise first from None
    if not hasattr(enc, "n_params"):
        enc.n_params = 0
    if not hasattr(enc, "logit_scale"):
        enc.logit_scale = 1.0
    return enc
