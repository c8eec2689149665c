"""The mutation run: plant realistic bugs one at a time and see which the tests catch.

Each `Mutant` is an exact text substitution in one file, asserted to apply exactly
once (so a catalogue entry whose code has moved fails loudly instead of planting
nothing), and names the tests that exercise the code it breaks. For each mutant
the file is changed, every `__pycache__` under the checkout is removed (a file
restored within the same second and at the same size can otherwise keep running
stale bytecode) and the tests run with bytecode writing off; afterwards the file
is restored byte for byte and checked against its original hash.

Only the mapped test files run for each mutant, not the whole suite: the whole
suite takes about a minute, forty times over is too long for a routine run, and a
bug the mapped tests miss but some other test catches is still a gap worth
knowing (the mapping is where someone looking for that code's tests would look).

    python tools/mutation.py              # every mutant; exit status 1 if any survive
    python tools/mutation.py --check      # only check that each applies exactly once
    python tools/mutation.py --only scratch-relu-grad-at-zero
    tox -e mutation                       # the same, opt-in (not in the default envlist)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    id: str
    path: str  # relative to the checkout
    old: str  # exact text, present exactly once
    new: str
    tests: tuple[str, ...]  # pytest arguments: test files, or a file and -k expression
    why: str  # the bug, in words


def _m(id, path, old, new, tests, why):
    return Mutant(id, path, old, new, tuple(tests), why)


P = "tests/test_parity.py"
TWIN = "tests/test_twin.py"
REG = "tests/test_regularization.py"
TRAIN = "tests/test_training.py"
TPAR = "tests/test_training_parity.py"
SPEED = "tests/test_speed_suite.py"
REPORT = "tests/test_report.py"
GRAD = "tests/test_gradcheck.py"
POOL = "tests/test_pooling.py"
CONV = "tests/test_conv.py"
FUNC = "tests/test_functional.py"
OPT = "tests/test_optim_sgd.py"
ADAPT = "tests/test_optim_adaptive.py"
LOSS = "tests/test_losses_extreme.py"
INIT = "tests/test_init.py"
SER = "tests/test_serialization.py"
SEQ = "tests/test_sequence.py"
RPLAIN = "tests/test_recurrent_plain.py"
ATOMIC = "tests/test_atomic.py"
TWINS = "tests/test_twins.py"
MECH = "tests/test_mutants_mechanical.py"

CATALOGUE: list[Mutant] = [
    # --- the ten bugs issue 19 names -------------------------------------------------
    _m("scratch-relu-grad-at-zero", "scratch/functional/activation.py",
       "mask = x > 0\n    return x * mask, mask",
       "mask = x >= 0\n    return x * mask, mask",
       [P], "ReLU passes gradient 1 at exactly 0 (torch: 0)"),
    _m("scratch-softmax-last-axis", "scratch/functional/activation.py",
       "e = np.exp(x - x.max(axis=dim, keepdims=True))\n"
       "    return e / e.sum(axis=dim, keepdims=True)",
       "e = np.exp(x - x.max(axis=-1, keepdims=True))\n"
       "    return e / e.sum(axis=-1, keepdims=True)",
       [P], "Softmax normalises over the last axis whatever dim says"),
    _m("scratch-gelu-default-tanh", "scratch/activation.py",
       'approximate: str = "none"', 'approximate: str = "tanh"',
       [P, TWIN], "GELU defaults to the tanh approximation"),
    _m("scratch-softmax-float64", "scratch/functional/activation.py",
       "e = np.exp(x - x.max(axis=dim, keepdims=True))",
       "e = np.exp((x - x.max(axis=dim, keepdims=True)).astype(np.float64))",
       [P], "Softmax computes in float64 for a float32 model"),
    _m("scratch-state-dict-params-first", "scratch/module.py",
       '            for name, _, member in self._named_members(("_parameters", "_buffers")))',
       '            for name, _, member in [*self._named_members(("_parameters",)),\n'
       '                                    *self._named_members(("_buffers",))])',
       [TWIN], "state_dict lists all parameters before all buffers"),
    _m("bench-speed-torch-forward-runs-scratch", "bench/measure/speed/workloads.py",
       'if self.impl == "scratch":\n            self.model.eval()',
       'if self.impl in ("scratch", "torch"):\n            self.model.eval()',
       [SPEED, "-k", "names"], "the torch forward case times the scratch model"),
    _m("bench-speed-torch-threads-unpinned", "bench/measure/speed/test_speed.py",
       "    torch.set_num_threads(case.threads)\n    try:", "    try:",
       [SPEED, "-k", "names"], "the speed suite leaves torch's thread count as it found it"),
    _m("bench-lockstep-scratch-vs-itself", "bench/compare/lockstep.py",
       "weights = [runner.weights() for runner in twins]",
       "weights = [twins[0].weights(), twins[0].weights()]",
       [TRAIN, "-k", "lockstep"],
       "lockstep's final weight difference compares scratch with itself"),
    _m("bench-same-batch-order", "bench/training/loop.py",
       "order = np.random.default_rng([seed, epoch]).permutation(n)",
       "order = np.random.default_rng([seed, 0]).permutation(n)",
       [TRAIN], "the same batch order every epoch"),
    _m("bench-train-loss-unweighted", "bench/training/loop.py",
       "total_loss += loss * len(idx)", "total_loss += loss * exp.batch_size",
       [TRAIN], "train_loss weights the short last batch as a full one"),

    # --- scratch: activations, dropout, layers ---------------------------------------
    _m("scratch-leaky-grad-at-zero", "scratch/functional/activation.py",
       "mask = x > 0\n    return np.where(mask, x,",
       "mask = x >= 0\n    return np.where(mask, x,",
       [P], "LeakyReLU passes gradient 1 at exactly 0"),
    _m("scratch-leaky-default-slope", "scratch/activation.py",
       "negative_slope: float = 0.01", "negative_slope: float = 0.1",
       [P, TWIN], "LeakyReLU's default slope 0.1"),
    _m("scratch-sigmoid-grad", "scratch/functional/activation.py",
       "return grad_out * y * (1 - y)", "return grad_out * y",
       [P], "Sigmoid's gradient forgets (1 - y)"),
    _m("scratch-tanh-grad", "scratch/functional/activation.py",
       "return grad_out * (1 - y * y)", "return grad_out * (1 - y)",
       [P], "Tanh's gradient 1 - y instead of 1 - y^2"),
    _m("scratch-gelu-grad", "scratch/functional/activation.py",
       "d = a + x * pdf", "d = a + pdf", [P], "GELU's gradient drops the x factor"),
    _m("scratch-softmax-grad-axis", "scratch/functional/activation.py",
       "return y * (grad_out - (grad_out * y).sum(axis=dim, keepdims=True))",
       "return y * (grad_out - (grad_out * y).sum(axis=-1, keepdims=True))",
       [P], "Softmax's backward sums over the last axis"),
    _m("scratch-dropout-no-scaling", "scratch/functional/dropout.py",
       "keep * np.dtype(dtype).type(0 if p == 1.0 else 1 / (1 - p))",
       "keep * np.dtype(dtype).type(0 if p == 1.0 else 1)",
       [REG], "Dropout forgets the 1/(1-p) scaling"),
    _m("scratch-dropout-scale-by-p", "scratch/functional/dropout.py",
       "keep * np.dtype(dtype).type(0 if p == 1.0 else 1 / (1 - p))",
       "keep * np.dtype(dtype).type(0 if p == 1.0 else 1 / p)",
       [REG], "Dropout scales by 1/p"),
    _m("scratch-dropout-keep-prob-swapped", "scratch/functional/dropout.py",
       "keep = rng.random(shape, dtype=np.float32) >= p",
       "keep = rng.random(shape, dtype=np.float32) < p",
       [REG], "Dropout keeps with probability p instead of 1 - p"),
    _m("scratch-dropout-one-mask-per-batch", "scratch/dropout.py",
       "tuple[int, ...]:\n        return shape\n",
       "tuple[int, ...]:\n        return (1,) + shape[1:]\n",
       [REG], "Dropout draws one mask for the whole batch"),
    _m("scratch-dropout-active-in-eval", "scratch/dropout.py",
       "if not self.training or self.p == 0.0:", "if self.p == 0.0:",
       [REG], "Dropout still drops in eval mode"),
    _m("scratch-linear-bias-grad-mean", "scratch/functional/linear.py",
       "dbias = g2.sum(axis=0) if bias_grad", "dbias = g2.mean(axis=0) if bias_grad",
       [P], "Linear's bias gradient averaged over the batch"),
    _m("scratch-linear-bias-init-bound", "scratch/linear.py",
       "bound = 1 / math.sqrt(self.in_features) if", "bound = 1 / self.in_features if",
       [INIT], "Linear's bias drawn from U(-1/fan_in, 1/fan_in)"),
    _m("scratch-flatten-ignores-end-dim", "scratch/functional/shapes.py",
       "x.reshape(x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:])",
       "x.reshape(x.shape[:s] + (-1,))",
       [P], "Flatten ignores end_dim"),
    _m("scratch-batchnorm-biased-running-var", "scratch/batchnorm.py",
       "self.running_var += dt(m) * var * dt(n / (n - 1))", "self.running_var += dt(m) * var",
       [REG, P], "running_var updated with the biased variance"),
    _m("scratch-batchnorm-momentum-swapped", "scratch/batchnorm.py",
       "self.running_mean *= dt(1 - m)\n        self.running_mean += dt(m) * mean",
       "self.running_mean *= dt(m)\n        self.running_mean += dt(1 - m) * mean",
       [REG, P], "running_mean's momentum applied the wrong way round"),
    _m("scratch-batchnorm-eps-outside-sqrt", "scratch/functional/batchnorm.py",
       "inv_std = 1 / np.sqrt(var + x.dtype.type(eps))",
       "inv_std = 1 / (np.sqrt(var) + x.dtype.type(eps))",
       [P, REG], "batch norm adds eps outside the square root"),
    _m("scratch-batchnorm-grad-missing-term", "scratch/functional/batchnorm.py",
       "        dx -= (a * sum_g / n)[:, None]\n", "",
       [P, GRAD], "batch norm's dx forgets the mean(g) term"),
    _m("scratch-conv-bias-grad-axis", "scratch/functional/conv.py",
       "dbias = dy.sum(axis=1) if bias_grad else None",
       "dbias = dy.mean(axis=1) if bias_grad else None",
       [CONV, P], "Conv2d's bias gradient averaged"),
    _m("scratch-conv-chunk-dw-last", "scratch/functional/conv.py",
       "dweight = dw if dweight is None else dweight + dw", "dweight = dw",
       [FUNC], "a chunked Conv2d keeps only the last chunk's weight gradient"),
    _m("scratch-lstm-block-starts-at-c0", "scratch/functional/recurrent.py",
       "blocks[k - 1].cell[-1] if k else c0", "c0",
       [SEQ], "each LSTM block of steps starts its forget-gate derivative from c0"),
    _m("scratch-lstm-forget-derivative-new-cell", "scratch/functional/recurrent.py",
       "out[..., hs:2 * hs] *= c_prev", "out[..., hs:2 * hs] *= tcell",
       [SEQ], "the LSTM forget gate's derivative uses tanh(c'), not the previous cell"),
    _m("scratch-gru-weight-ih-from-dgh", "scratch/functional/recurrent.py",
       "weight_ih=gx2.T @", "weight_ih=gh2.T @",
       [RPLAIN], "GRU's dW_ih takes the hidden pre-activation's gradient (r dn in the n gate)"),
    _m("scratch-maxpool-all-ties", "scratch/functional/pool.py",
       "        winner[k] &= ~seen\n", "",
       [P, POOL], "max pool sends the gradient to every tied maximum"),
    _m("scratch-avgpool-divisor", "scratch/functional/pool.py",
       "share = grad_out / (kh * kw)", "share = grad_out / (kh + kw)",
       [P, POOL], "avg pool's backward divides by kh + kw"),
    _m("scratch-output-size-ceil", "scratch/functional/shapes.py",
       "    span = dilation * (kernel - 1) + 1", "    span = dilation * (kernel - 1)",
       [CONV, POOL, FUNC], "the output-size rule is off by one"),
    _m("scratch-ce-smoothing-target", "scratch/functional/loss.py",
       "a = (eps / c) * base * keep[:, None]",
       "a = (eps / (c - 1)) * base * keep[:, None]",
       [P], "label smoothing spreads eps over C - 1 classes in backward"),
    _m("scratch-mse-grad-factor", "scratch/functional/loss.py",
       "return diff * diff, 2 * diff", "return diff * diff, diff",
       [P], "MSELoss's gradient forgets the 2"),
    _m("scratch-bce-pos-weight-ignored", "scratch/functional/loss.py",
       "lw = 1 if pos_weight is None else 1 + (pos_weight - 1) * t", "lw = 1",
       [P], "BCEWithLogitsLoss's backward ignores pos_weight"),
    _m("scratch-sgd-nesterov", "scratch/optim/sgd.py",
       'g = g + mu * buf if group["nesterov"] else buf', "g = buf",
       [OPT, TPAR], "SGD ignores nesterov"),
    _m("scratch-adam-no-bias-correction", "scratch/optim/adam.py",
       "step_size = lr / (1 - beta1**t)", "step_size = lr",
       [ADAPT], "Adam without the first moment's bias correction"),
    _m("scratch-gradcheck-one-sided", "scratch/gradcheck.py",
       "nflat[i] = (plus - minus) / (2 * eps)", "nflat[i] = (plus - minus) / eps",
       [GRAD], "finite differences divide by eps instead of 2 eps"),
    _m("scratch-max-rel-diff-scale", "scratch/testing.py",
       "scale = max(float(np.abs(b).max()), floor)", "scale = max(float(np.abs(a).max()), floor)",
       ["tests/test_functional.py", GRAD, TRAIN, "-k", "rel or gradcheck or lockstep"],
       "max_rel_diff measured against the actual, not the expected, array"),
    _m("scratch-eval-not-propagated", "scratch/module.py",
       "            child.train(mode)\n", "            pass\n",
       [TWIN, REG], "train()/eval() do not reach the children"),
    _m("scratch-atomic-sweep-misses-temporaries", "scratch/atomic.py",
       'STALE_PATTERN = f".*{PART_SUFFIX}"', 'STALE_PATTERN = ".tmp-*.part"',
       [ATOMIC], "the sweeper looks for another temporary name than the writer makes"),
    _m("scratch-atomic-no-directory-fsync", "scratch/atomic.py",
       "    _fsync_dir(path.parent)\n", "    pass\n",
       [ATOMIC], "the rename is not made durable: the directory is never fsynced"),

    # --- reference ---------------------------------------------------------------------
    _m("reference-twin-ignores-dtype", "reference/build.py",
       "tmodel = _build(model, dtype, dropout).to(dtype)",
       "tmodel = _build(model, torch.float32, dropout)",
       [P, TWIN], "the twin is built in float32, whatever scratch's dtype is"),
    _m("reference-twin-always-train", "reference/build.py",
       "tmodel.train(model.training)", "tmodel.train(True)",
       [TWIN, P], "the twin is always in training mode"),
    _m("reference-shared-dropout-unscaled", "reference/layers.py",
       "/ (1 - self.p)", "/ 1.0",
       [REG, TRAIN, "-k", "shared or lockstep or every_experiment"],
       "the shared-mask dropout forgets its scaling"),
    _m("reference-copy-weights-params-only", "reference/build.py",
       "            for k, v in state.items():\n                mine[k].copy_(",
       "            for k, v in state.items():\n"
       "                if k in dict(dst.named_buffers()):\n"
       "                    continue\n                mine[k].copy_(",
       [TWIN, REG, P], "copy_weights skips the buffers"),

    _m("reference-twin-default-shared-mask", "reference/build.py",
       'def twin(model: scratch.Module, *, dropout: str = "native")',
       'def twin(model: scratch.Module, *, dropout: str = "shared")',
       [REG], "the default Dropout twin is the shared-mask device, not nn.Dropout"),

    # --- bench: comparison, training, measurement, reports ------------------------------
    _m("bench-parity-ignores-infinities", "bench/compare/twins.py",
       "if np.any(fin_a != fin_b) or np.any(a[np.isinf(a)] != b[np.isinf(a)]):",
       "if np.any(np.isinf(a) & ~np.isinf(b)):",
       [P], "an infinity on the torch side, or of the other sign, passes"),
    _m("bench-twins-check-no-squeeze", "bench/compare/twins.py",
       "squeezable = got.size == want.size and", "squeezable = False and",
       [TWINS], "the check fails a layer's (n, 1) column against torch's (n,) vector"),
    _m("bench-catalogue-no-exact-zeros", "bench/compare/catalogue.py",
       "x[rng.random(shape) < 1 / 3] = 0.0", "x[rng.random(shape) < 0] = 0.0",
       [P], "the 'exact zeros' inputs hold no zeros"),
    _m("bench-parity-casts-output", "bench/compare/twins.py",
       'result.pairs[numbered("output", k)] = (np.asarray(o), theirs)',
       'result.pairs[numbered("output", k)] = (np.asarray(o, dtype=dtype), theirs)',
       [P], "the parity helper casts scratch's output to the input's dtype"),
    _m("bench-parity-ignores-torch-nan", "bench/compare/twins.py",
       "            if np.any(nan_a != nan_b):", "            if np.any(nan_a & ~nan_b):",
       [P], "a NaN on the torch side passes"),
    _m("bench-parity-no-dtype-check", "bench/compare/twins.py",
       "            if a.dtype != b.dtype:", "            if a.dtype.kind != b.dtype.kind:",
       [P], "the parity helper compares dtype kinds only"),
    _m("bench-parity-ones-upstream", "bench/compare/twins.py",
       "np.asarray(rng.standard_normal(tuple(t.shape)) if",
       "np.asarray(np.ones(tuple(t.shape)) if",
       [P], "an all-ones upstream gradient"),
    _m("bench-lockstep-loss-diff-zero", "bench/compare/lockstep.py",
       "report.loss_diffs.append(abs(losses[0] - losses[1]))",
       "report.loss_diffs.append(abs(losses[0] - losses[0]))",
       [TRAIN, "-k", "lockstep"], "lockstep's loss difference compares scratch with itself"),
    _m("bench-runner-no-zero-grad", "bench/training/runners.py",
       "        self.optimizer.zero_grad()\n        self.model.backward(",
       "        self.model.backward(",
       [TRAIN], "the scratch runner never zeroes its gradients"),
    _m("bench-runner-dropout-rng-fixed", "bench/training/runners.py",
       "            m.rng = dropout_rng(self.exp.seed, epoch, i)\n\n    def train_step(self, x",
       "            m.rng = dropout_rng(self.exp.seed, 0, i)\n\n    def train_step(self, x",
       [TRAIN], "the scratch runner's dropout masks repeat every epoch"),
    _m("bench-grid-no-one-thread", "bench/measure/speed/grid.py",
       "both = sorted({1, all_threads()})", "both = [all_threads()]",
       [SPEED, "-k", "grids"], "the default grid loses its 1-thread cases"),
    _m("bench-tables-seconds-swapped", "bench/results/tables.py",
       "\"s/epoch scratch\": f\"{sec['scratch']:.1f}\", \"s/epoch torch\": f\"{sec['torch']:.1f}\"",
       "\"s/epoch scratch\": f\"{sec['torch']:.1f}\", \"s/epoch torch\": f\"{sec['scratch']:.1f}\"",
       [REPORT, "-k", "report_writes"], "the accuracy table swaps the seconds columns"),
    _m("bench-check-finite-nan-only", "bench/training/loop.py",
       "if not math.isfinite(loss):", "if math.isnan(loss):",
       [TRAIN], "an infinite loss does not stop training"),
    _m("bench-resume-past-the-end", "bench/training/checkpoint.py",
       'if int(meta["epoch"]) >= exp.epochs:', 'if int(meta["epoch"]) > exp.epochs:',
       [TRAIN, "-k", "resume_experiment"],
       "--resume accepts a checkpoint that has already trained every epoch"),
    _m("bench-interrupt-blames-old-checkpoint", "bench/training/session.py",
       "if checkpoint.is_file() and _identity(checkpoint) != before:",
       "if checkpoint.is_file():",
       [TRAIN, "-k", "train_twin"],
       "after Ctrl-C, an earlier run's checkpoint is named as this run's"),
    _m("bench-report-check-writes", "bench/results/report.py",
       "    return plan_report(results_dir, readme, run_set=run_set).stale",
       "    return write_report(results_dir, readme, run_set=run_set)",
       [REPORT, "-k", "check_report"], "report --check rewrites the files it checks"),
    _m("bench-finish-run-always-publishes", "bench/results/report.py",
       "    if publish:\n        checkout = checkout or find_checkout()",
       "    if True:\n        checkout = checkout or find_checkout()",
       [REPORT, "-k", "finish_run"], "a run is published without --publish"),
    # --- survivors of the mechanical run (tools/cosmic_ray_run.py) that were real -------------
    _m("scratch-dropout-scale-drops-all-at-p0", "scratch/functional/dropout.py",
       "if p == 1.0:\n        keep[...] = False", "if p == 0.0:\n        keep[...] = False",
       [MECH, "-k", "dropout_scale"], "F.dropout_scale at p = 0 drops every element"),
    _m("scratch-embedding-renorm-at-the-norm", "scratch/functional/sparse.py",
       "over = norms > max_norm", "over = norms >= max_norm",
       [MECH, "-k", "max_norm"], "Embedding's max_norm rescales a row exactly at the norm"),
    _m("scratch-optimizer-repr-raises", "scratch/optim/optimizer.py",
       'return "\\n".join(lines) + "\\n)"', 'return "\\n".join(lines) * "\\n)"',
       [MECH, "-k", "repr"], "repr(optimizer) raises TypeError"),
    _m("scratch-optimizer-repr-groups-run-together", "scratch/optim/optimizer.py",
       'lines += [""] * (i > 0) + [f"Parameter Group {i}"]',
       'lines += [f"Parameter Group {i}"]',
       [MECH, "-k", "repr"], "repr(optimizer) lacks torch's blank line between groups"),
    _m("scratch-optimizer-state-shape-lexicographic", "scratch/optim/optimizer.py",
       "if arr.shape != p.shape:", "if arr.shape < p.shape:",
       [MECH, "-k", "another_shape"], "a saved state larger than its parameter loads"),
]


def _apply_count(m: Mutant) -> int:
    return (ROOT / m.path).read_text().count(m.old)


def check_catalogue() -> list[str]:
    """Problems with the catalogue: a substitution that does not apply exactly once, a
    mapped test file that does not exist, a duplicate id. Empty when it is sound."""
    problems = []
    ids = [m.id for m in CATALOGUE]
    problems += [f"duplicate id {i}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    for m in CATALOGUE:
        n = _apply_count(m)
        if n != 1:
            problems.append(f"{m.id}: {m.path} holds its text {n} times, not once")
        if m.old == m.new:
            problems.append(f"{m.id}: the substitution changes nothing")
        problems += [f"{m.id}: no test file {t}" for t in m.tests
                     if t.endswith(".py") and not (ROOT / t).is_file()]
    return problems


def clear_pycache() -> None:
    for d in ROOT.rglob("__pycache__"):
        if ".git" not in d.parts and ".tox" not in d.parts:
            shutil.rmtree(d, ignore_errors=True)


def _run_tests(tests: tuple[str, ...], timeout: float) -> tuple[str, float, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "-p", "no:randomly", *tests]
    start = time.perf_counter()
    try:
        out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start, ""
    seconds = time.perf_counter() - start
    failed = [ln for ln in out.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))]
    status = {0: "survived", 1: "killed"}.get(out.returncode, f"error (pytest {out.returncode})")
    if failed and failed[0].startswith("ERROR") and "::" not in failed[0]:
        status = "error (the mutant breaks collection: not a realistic bug)"
    return status, seconds, failed[0] if failed else out.stdout[-300:].strip()


def run_mutant(m: Mutant, timeout: float) -> dict:
    path = ROOT / m.path
    original = path.read_bytes()
    digest = hashlib.sha256(original).hexdigest()
    text = original.decode()
    if text.count(m.old) != 1:
        raise SystemExit(f"{m.id}: {m.path} holds its text {text.count(m.old)} times, not once")
    try:
        path.write_bytes(text.replace(m.old, m.new).encode())
        clear_pycache()
        status, seconds, first_failure = _run_tests(m.tests, timeout)
    finally:
        path.write_bytes(original)
        clear_pycache()
    if hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        raise SystemExit(f"{m.path} was not restored byte for byte after {m.id}")
    return {"id": m.id, "path": m.path, "why": m.why, "tests": list(m.tests),
            "status": status, "seconds": round(seconds, 1), "caught_by": first_failure}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="only check that every substitution applies exactly once")
    ap.add_argument("--only", nargs="+", metavar="ID", help="run these mutants only")
    ap.add_argument("--list", action="store_true", help="list the catalogue and exit")
    ap.add_argument("--timeout", type=float, default=600, help="seconds per mutant")
    ap.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = ap.parse_args(argv)
    if args.list:
        for m in CATALOGUE:
            print(f"{m.id:45s} {m.path:38s} {m.why}")
        return 0
    problems = check_catalogue()
    if problems:
        print("the catalogue has rotted:\n  " + "\n  ".join(problems))
        return 2
    if args.check:
        print(f"{len(CATALOGUE)} mutants, each applies exactly once")
        return 0
    chosen = [m for m in CATALOGUE if not args.only or m.id in args.only]
    unknown = set(args.only or ()) - {m.id for m in CATALOGUE}
    if unknown:
        ap.error(f"unknown mutant ids: {sorted(unknown)}")
    results = []
    for i, m in enumerate(chosen, 1):
        r = run_mutant(m, args.timeout)
        results.append(r)
        print(f"[{i}/{len(chosen)}] {r['status']:9s} {r['seconds']:6.1f}s  {m.id}: {m.why}"
              + (f"\n        {r['caught_by']}" if r["status"] == "killed" else ""), flush=True)
    killed = [r for r in results if r["status"] in ("killed", "timeout")]
    survivors = [r for r in results if r["status"] == "survived"]
    errors = [r for r in results if r["status"].startswith("error")]
    scratch_total = [r for r in results if r["path"].startswith("scratch/")]
    scratch_killed = [r for r in killed if r["path"].startswith("scratch/")]
    print(f"\nmutation score: {len(killed)}/{len(results)} killed "
          f"({100 * len(killed) / max(len(results), 1):.0f}%); scratch/: "
          f"{len(scratch_killed)}/{len(scratch_total)}")
    for r in survivors:
        print(f"  SURVIVED {r['id']} ({r['path']}): {r['why']}")
    for r in errors:
        print(f"  ERROR    {r['id']}: {r['caught_by']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 1 if survivors or errors else 0


if __name__ == "__main__":
    sys.exit(main())
