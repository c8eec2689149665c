"""The NumPy peers (numpy-ml, DeZero, MyGrad, micrograd, tinygrad) audited through the public
twin check, and raced.

- `load`: import a peer as released on PyPI, with the documented shim it needs today.
- `case`: `PeerCase` (one layer, loss or optimizer of one peer, in one configuration).
- `cases_*`: each peer's cases, written against its public API through an `Adapter`.
- `audit`: run every case, the scratch rows first; the rows of `results/peers-parity.md`.

Installed by the optional extra `peers` (`tox -e peers`); nothing here is imported by
the default test run unless the peer is installed.
"""
