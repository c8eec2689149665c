"""MyGrad 2.5.0 through the public twin check.

MyGrad is NumPy autograd with functional layers (`mygrad.nnet`): no layer objects and
no optimizers. Each case is a small holder of `mygrad.Tensor` parameters and a forward
written with MyGrad's public functions; `out.backward(g)` seeds the upstream
gradient and every gradient is read from `.grad`. `nnet.layers.gru` needs numba, an
optional dependency of MyGrad: without it the GRU row is an import error.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.compare.check import SAME, TRANSPOSED, Adapter, Param, check
from bench.peers.case import PeerCase, stacked
from bench.peers.load import load

PEER = "mygrad"


def _mg():
    return load(PEER)


class Holder:
    """Parameters as mygrad Tensors by name; `reset` starts a fresh graph."""

    def __init__(self, **shapes):
        for k, shape in shapes.items():
            setattr(self, k, _mg().tensor(np.zeros(shape)))

    def reset(self):
        for k, v in list(vars(self).items()):
            setattr(self, k, _mg().tensor(np.array(v.data)))


def _param(torch_name: str, attr: str, layout=None) -> Param:
    return Param(torch_name, lambda m: getattr(m, attr).data, lambda m: getattr(m, attr).grad,
                 set=lambda m, a: setattr(m, attr, _mg().tensor(a)),
                 **({"layout": layout} if layout else {}))


def _adapter(forward, params=(), grad_inputs=(0,), torch_output=None) -> Adapter:
    return Adapter(forward=forward, backward=lambda m, out, g: out.backward(g),
                   params=params, wrap=lambda x: _mg().tensor(x),
                   input_grad=lambda t: t.grad, zero_grad="reset", grad_inputs=grad_inputs,
                   torch_output=torch_output)


# Found by the audit (tests/test_peers.py reproduces it): nnet.multiclass_hinge returns
# `np.sum(Lij) / scores.shape[0]` (losses/multiclass_hinge.py): the margins summed over
# the C classes and averaged over N only; torch's MultiMarginLoss also divides each
# sample's sum by C (x.size(1)). Its docstring says "average multiclass hinge loss":
# a convention, C times torch's, not an error in its gradient.
HINGE_NOTE = "sums the margins over classes without torch's division by C: C times torch's"


# nnet.layers.gru(X, Uz, Wz, bz, Ur, Wr, br, Uh, Wh, bh) takes X as (T, N, C), torch's
# default (batch_first=False) layout, and returns the states (T + 1, N, D) with s0 = 0
# first: the twin's output is states[1:]. U* (C, D) and W* (D, D) are torch's W_i*, W_h*
# blocks transposed; torch's gate order r, z, n is their r, z, h; one bias per gate
# (b_i* + b_h* in torch's terms), so the twin's b_hh is set to 0.
# Found by the audit (tests/test_peers.py reproduces it): their candidate state is
# H_t = tanh(X_t Uh + (R_t * S_{t-1}) Wh + bh) (gru.py, _gru_layer: `h[n] += np.dot(r[n] *
# s[n], Wh)`): the reset gate multiplies the previous state BEFORE the recurrent matmul,
# the GRU of Cho et al. (2014). torch (and cuDNN) apply it after, n = tanh(W_in x + b_in
# + r * (W_hn h + b_hn)). Not an error of MyGrad's: another GRU, whose backward matches
# its own forward. With W_hn = 0 the values agree and only dL/dW_hn still differs
# (r_j h_k for torch, r_k h_k for theirs).
GRU_NOTE = ("reset gate applied before the matmul, (r * h) @ Wh (Cho et al. 2014); torch: "
            "r * (W_hn h + b_hn)")


def _gru_param(torch_name: str, prefix: str) -> Param:
    # One torch tensor stacks the three gates; their gru takes one array per gate.
    return stacked(torch_name, ("r", "z", "h"), lambda m, g: getattr(m, prefix + g).data,
                   lambda m, g: getattr(m, prefix + g).grad,
                   lambda m, g, a: setattr(m, prefix + g, _mg().tensor(a)),
                   SAME if prefix == "b" else TRANSPOSED)


def _gru(w_hn_zero: bool = False) -> PeerCase:
    # w_hn_zero: torch's W_hn (hence their Wh) set to 0, where the two GRUs coincide
    # (tests/test_peers.py uses it to pin the diagnosis to that term).
    def twin():
        tm = torch.nn.GRU(4, 6)
        with torch.no_grad():
            tm.bias_hh_l0.zero_()
            if w_hn_zero:
                tm.weight_hh_l0[12:].zero_()
        return tm

    def forward(m, x):
        from mygrad.nnet.layers import gru  # only there with numba
        return gru(x, m.Uz, m.Wz, m.bz, m.Ur, m.Wr, m.br, m.Uh, m.Wh, m.bh)[1:]

    shapes = {f"U{g}": (4, 6) for g in "zrh"} | {f"W{g}": (6, 6) for g in "zrh"} \
        | {f"b{g}": (6,) for g in "zrh"}
    return _case("layer", "nnet.layers.gru", "(T, N, C) = (5, 3, 4), D=6 vs GRU(4, 6), "
                 "bias_hh_l0 = 0, output states[1:]", lambda: Holder(**shapes), twin,
                 [(5, 3, 4)], forward, [_gru_param("weight_ih_l0", "U"),
                                        _gru_param("weight_hh_l0", "W"),
                                        _gru_param("bias_ih_l0", "b")],
                 note=GRU_NOTE, torch_output=lambda o: o[0])  # torch's (output, h_n)


def _case(kind, name, config, holder, twin, shapes, forward, params=(), extra=(),
          grad_inputs=(0,), note="", torch_output=None) -> PeerCase:
    def run():
        rng = np.random.default_rng(0)
        xs = [rng.standard_normal(s) for s in shapes] + [e(rng) for e in extra]
        return check(holder(), twin(), *xs,
                     adapter=_adapter(forward, params, grad_inputs, torch_output))
    return PeerCase(PEER, kind, name, config, run, note=note)


def _act(name, twin, *args, **kwargs):
    shape = (4, 6)  # GLU halves the last axis: it must be even
    return _case("activation", f"nnet.{name}", f"{args or ''}{kwargs or ''} vs {twin()!r}",
                 Holder, twin, [shape],
                 lambda m, x: getattr(_mg().nnet, name)(x, *args, **kwargs))


def cases() -> list[PeerCase]:
    mg = _mg
    nnet = lambda: _mg().nnet  # noqa: E731
    classes = lambda rng: rng.integers(0, 4, 6)  # noqa: E731
    return [
        _case("layer", "matmul + add", "x @ W + b vs Linear(5, 3)",
              lambda: Holder(W=(5, 3), b=(3,)), lambda: torch.nn.Linear(5, 3), [(4, 5)],
              lambda m, x: mg().matmul(x, m.W) + m.b,
              [_param("weight", "W", TRANSPOSED), _param("bias", "b")]),
        _case("layer", "nnet.conv_nd", "3x3, stride=1, padding=1 vs Conv2d(2, 4, 3, padding=1)",
              lambda: Holder(w=(4, 2, 3, 3), b=(4,)),
              lambda: torch.nn.Conv2d(2, 4, 3, padding=1), [(2, 2, 7, 7)],
              lambda m, x: nnet().conv_nd(x, m.w, stride=1, padding=1) + m.b[:, None, None],
              [_param("weight", "w"), _param("bias", "b")]),
        _case("layer", "nnet.conv_nd", "3x3, stride=2, dilation=2 vs Conv2d(2, 4, 3, stride=2, "
              "dilation=2, bias=False)", lambda: Holder(w=(4, 2, 3, 3)),
              lambda: torch.nn.Conv2d(2, 4, 3, stride=2, dilation=2, bias=False),
              [(2, 2, 9, 9)], lambda m, x: nnet().conv_nd(x, m.w, stride=2, dilation=2),
              [_param("weight", "w")]),
        _case("layer", "nnet.max_pool", "(2, 2), stride 2 vs MaxPool2d(2, 2)", Holder,
              lambda: torch.nn.MaxPool2d(2, 2), [(2, 3, 6, 6)],
              lambda m, x: nnet().max_pool(x, (2, 2), 2)),
        _case("layer", "nnet.batchnorm", "eps=1e-5, (N, C) vs BatchNorm1d(3) in training",
              lambda: Holder(g=(3,), b=(3,)), lambda: torch.nn.BatchNorm1d(3), [(6, 3)],
              lambda m, x: nnet().batchnorm(x, gamma=m.g, beta=m.b, eps=1e-5),
              [_param("weight", "g"), _param("bias", "b")]),
        _case("layer", "nnet.batchnorm", "eps=1e-5, (N, C, H, W) vs BatchNorm2d(3) in training",
              lambda: Holder(g=(3,), b=(3,)), lambda: torch.nn.BatchNorm2d(3), [(4, 3, 3, 3)],
              lambda m, x: nnet().batchnorm(x, gamma=m.g, beta=m.b, eps=1e-5),
              [_param("weight", "g"), _param("bias", "b")]),
        _gru(),
        _act("relu", torch.nn.ReLU),
        _act("sigmoid", torch.nn.Sigmoid),
        _case("activation", "tanh", "vs Tanh()", Holder, torch.nn.Tanh, [(4, 5)],
              lambda m, x: mg().tanh(x)),
        _act("leaky_relu", lambda: torch.nn.LeakyReLU(0.2), 0.2),
        _act("elu", lambda: torch.nn.ELU(0.7), 0.7),
        _act("selu", torch.nn.SELU),
        _act("soft_sign", torch.nn.Softsign),
        _act("hard_tanh", lambda: torch.nn.Hardtanh(-0.5, 0.5), lower_bound=-0.5,
             upper_bound=0.5),
        _act("glu", lambda: torch.nn.GLU(-1), axis=-1),
        _act("softmax", lambda: torch.nn.Softmax(-1)),
        _act("logsoftmax", lambda: torch.nn.LogSoftmax(-1)),
        _case("loss", "nnet.softmax_crossentropy", "vs CrossEntropyLoss()", Holder,
              torch.nn.CrossEntropyLoss, [(6, 4)],
              lambda m, x, y: nnet().softmax_crossentropy(x, y), extra=[classes]),
        _case("loss", "nnet.negative_log_likelihood", "vs NLLLoss()", Holder,
              torch.nn.NLLLoss, [(6, 4)],
              lambda m, x, y: nnet().negative_log_likelihood(x, y), extra=[classes]),
        _case("loss", "nnet.multiclass_hinge", "hinge=1 vs MultiMarginLoss(margin=1)", Holder,
              torch.nn.MultiMarginLoss, [(6, 4)],
              lambda m, x, y: nnet().multiclass_hinge(x, y), extra=[classes], note=HINGE_NOTE),
        _case("loss", "nnet.margin_ranking_loss", "margin=0.3 vs MarginRankingLoss(0.3)",
              Holder, lambda: torch.nn.MarginRankingLoss(0.3), [(6,), (6,)],
              lambda m, a, b, y: nnet().margin_ranking_loss(a, b, y, 0.3),
              extra=[lambda rng: rng.choice([-1.0, 1.0], 6)], grad_inputs=(0, 1)),
    ]
