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
GEN = "tests/test_generative.py"
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
FORMATS = "tests/test_formats.py"
CLIERR = "tests/test_cli_errors.py"
LIMITS = "tests/test_serialization_limits.py"
HOSTILE = "tests/test_records_hostile.py"
MECH = "tests/test_mutants_mechanical.py"
NP = "tests/test_norms_pools.py"
CTR = "tests/test_convtranspose.py"
UPS = "tests/test_upsample.py"
PAR = "tests/test_parallel.py"
RESNET = "tests/test_resnet.py"

CATALOGUE: list[Mutant] = [
    # --- issue 29: records read from disk, publishing, README injection, Ctrl-C -------
    _m("bench-record-follows-symlinks", "bench/results/records.py",
       "os.O_RDONLY | os.O_NONBLOCK | getattr(os, \"O_NOFOLLOW\", 0)",
       "os.O_RDONLY | os.O_NONBLOCK",
       [HOSTILE], "a record that is a symlink is read (and published) as its target"),
    _m("bench-record-depth-unbounded", "bench/results/records.py",
       "if (depth := _depth(text)) > MAX_DEPTH:", "if (depth := _depth(text)) > 10**9:",
       [HOSTILE], "JSON nested 100,000 deep reaches the parser: a RecursionError traceback"),
    _m("bench-schema-number-allows-nan", "bench/results/schema.py",
       "NUMBER: lambda v: _is_number(v) and math.isfinite(v),",
       "NUMBER: lambda v: _is_number(v),",
       [HOSTILE], "NaN in a record's matmul passes as a number"),
    _m("bench-schema-list-items-unchecked", "bench/results/schema.py",
       "for i, item in enumerate(value)", "for i, item in enumerate(value[:0])",
       [HOSTILE], "a list's items are not checked: matmul entries that are not objects pass"),
    _m("bench-schema-name-anything", "bench/results/schema.py",
       "NAME: lambda v: isinstance(v, str) and NAME_PATTERN.fullmatch(v) is not None,",
       "NAME: lambda v: isinstance(v, str),",
       [HOSTILE], "an experiment name may hold newlines and markup"),
    _m("bench-runset-reads-unlisted", "bench/results/records.py",
       "        if self.files is None:\n            recs = load_records(kind, self.directory)",
       "        if True:\n            recs = load_records(kind, self.directory)",
       [HOSTILE], "a stray file in results/records breaks every later report"),
    _m("bench-publish-any-experiment", "bench/results/records.py",
       "and name not in experiments:", "and name in ():",
       [HOSTILE], "a record of an experiment outside the registry is published"),
    _m("bench-publish-incomplete-silently", "bench/results/report.py",
       "    if required is not None and not allow_incomplete:", "    if False:",
       [HOSTILE], "a run lacking tables' rows (a smoke speed grid) replaces the full reference"),
    _m("bench-publish-mixes-machines", "bench/results/records.py",
       "    if len(found) <= 1:", "    if True:",
       [HOSTILE], "parts of a run from two machines are published as one set"),
    _m("bench-tta-interrupt-loses-seeds", "bench/measure/tta.py",
       "        if runs:  # keep the finished seeds",
       "        if False:  # keep the finished seeds",
       ["tests/test_main_job.py"], "Ctrl-C in time to accuracy loses the seeds that finished"),
    _m("bench-publish-keeps-old-records", "bench/results/report.py",
       "    _remove(gone)", "    _remove(gone[:0])",
       [HOSTILE], "records of the replaced set stay in results/records"),
    _m("bench-write-all-no-rollback", "bench/results/records.py",
       "for path, backup in reversed(done):", "for path, backup in reversed(done[:0]):",
       [HOSTILE], "a publish interrupted half-way leaves half the files new"),
    _m("bench-tables-no-escape", "bench/results/tables.py",
       '    return text.replace("<", "&lt;")', "    return text",
       [HOSTILE], "a record's text can open HTML, a README marker included"),
    _m("bench-readme-takes-a-marker", "bench/results/report.py",
       "        if _MARKER.search(text):", "        if False:",
       [HOSTILE], "a section holding a README marker is written into the README"),
    _m("bench-speed-interrupt-is-a-failure", "bench/measure/speed/run.py",
       "        if ctrl_c.pressed:", "        if False:",
       ["tests/test_cli.py", "-k", "ctrl_c"],
       "Ctrl-C in the speed suite ends in a RuntimeError traceback, exit 1"),
    _m("bench-speed-collection-error-is-ctrl-c", "bench/measure/speed/run.py",
       "self.pressed = not excinfo.errisinstance(pytest.Session.Interrupted)",
       "self.pressed = True",
       ["tests/test_cli.py", "-k", "collect"],
       "a speed suite that fails to collect is reported as Ctrl-C, hiding the bug"),
    # --- the ten bugs issue 19 names -------------------------------------------------
    _m("scratch-relu-grad-at-zero", "scratch/functional/activation.py",
       "    mask = x > 0\n    return np.asarray(np.maximum(",
       "    mask = x >= 0\n    return np.asarray(np.maximum(",
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
       "    with held_threads(case.threads, case.threads):",
       "    with held_threads(1, case.threads):",
       [SPEED, "-k", "names"], "the speed suite times torch on one thread whatever the case"),
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

    # --- issue 29: full disks, tampered checkpoints, formats, run files, messages ------
    _m("bench-convert-onto-its-input", "bench/training/checkpoint.py",
       "if source is not None and path.exists() and os.path.samefile(path, source):",
       "if source is not None and path.exists() and path == source:",
       [FORMATS, "-k", "onto_its_input"], "convert writes onto its input through a link"),
    _m("bench-convert-overwrites-a-checkpoint", "bench/training/checkpoint.py",
       "if not force and is_training_checkpoint(path):",
       "if False and is_training_checkpoint(path):",
       [FORMATS, "-k", "only_with_force"],
       "convert replaces a training checkpoint by bare weights without --force"),
    _m("bench-outputs-without-seed", "bench/training/checkpoint.py",
       'stem = Path(out) / f"{exp.name}-seed{seed}-{exp.dtype}"',
       'stem = Path(out) / f"{exp.name}-seed0-{exp.dtype}"',
       [TRAIN, "-k", "named_by or two_seeds"], "two seeds into one --out overwrite each other"),

    _m("bench-checkpoint-lr-unbounded", "bench/training/checkpoint.py",
       'if not 0 <= group["lr"] <= top * (1 + 1e-9):',
       'if not 0 <= group["lr"]:',
       [CLIERR, "-k", "tampered and lr"], "a learning rate of 1e30 in a checkpoint is accepted"),
    _m("bench-checkpoint-buffers-unchecked", "bench/training/checkpoint.py",
       "        if set(buffers) != set(expected[i]):",
       "        if False:",
       [CLIERR, "-k", "tampered and buffer"],
       "a checkpoint with a buffer of another optimizer loads"),
    _m("bench-checkpoint-buffer-shape", "bench/training/checkpoint.py",
       "elif arr.shape != want.shape or arr.dtype != want.dtype:",
       "elif arr.dtype != want.dtype:",
       [CLIERR, "-k", "tampered and momentum"], "a momentum buffer of the wrong shape loads"),
    _m("bench-checkpoint-scheduler-unchecked", "bench/training/checkpoint.py",
       '_check_like(json.loads(meta["scheduler"]), json.loads(scheduler_state_json(fresh)),',
       '_check_like(None, json.loads(scheduler_state_json(fresh)),',
       [CLIERR, "-k", "tampered and scheduler"], "scheduler state is trusted as it comes"),
    _m("bench-checkpoint-weights-unchecked", "bench/training/checkpoint.py",
       "        _check_weights(weights, fresh.weights())",
       "        _check_weights(fresh.weights(), fresh.weights())",
       [CLIERR, "-k", "tampered and architecture"],
       "weights of another architecture pass the check, and data loads first"),
    _m("bench-checkpoint-cuda-unchecked", "bench/training/checkpoint.py",
       "        if not torch.cuda.is_available():",
       "        if False:",
       [CLIERR, "-k", "cuda"], "a torch-cuda checkpoint on a CPU machine ends in a traceback"),
    _m("bench-resume-advises-invalid-impl", "bench/training/checkpoint.py",
       'advice = (f"pass --impl {meta[\'impl\']}" if meta["impl"] in TRAIN_IMPLS else',
       'advice = (f"pass --impl {meta[\'impl\']}" if True else',
       [CLIERR, "-k", "cuda"], "--resume suggests --impl torch-cuda, which train refuses"),
    _m("scratch-atomic-names-the-temporary", "scratch/atomic.py",
       "named = OSError(err.errno, err.strerror or str(err), os.fspath(path))",
       "named = err",
       ["tests/test_disk_full.py", CLIERR, "-k", "enospc or full_disk or unwritable"],
       "a failed write names the temporary file (or no file)"),
    _m("scratch-atomic-close-hides-the-error", "scratch/atomic.py",
       "            with contextlib.suppress(OSError):\n"
       "                f.close()\n            raise",
       "            f.close()\n            raise",
       ["tests/test_disk_full.py", "-k", "fills_during"],
       "the close's second ENOSPC hides the named error"),
    _m("bench-train-no-space-check", "bench/training/checkpoint.py",
       "    if free is not None and free < needed:",
       "    if False:",
       ["tests/test_disk_full.py"], "train runs a whole epoch onto a full disk"),
    _m("bench-cli-oserror-traceback", "bench/errors.py",
       "    if err.errno not in WRITE_ERRNOS:",
       "    if True:",
       ["tests/test_disk_full.py"], "a full disk ends in a traceback"),
    _m("bench-record-leaves-empty-dir", "bench/results/records.py",
       "            directory.rmdir()  # only if empty: other records stay",
       "            pass",
       ["tests/test_disk_full.py"], "a failed record leaves an empty records/<kind>/"),
    _m("scratch-safetensors-bf16", "scratch/serialization.py",
       "dtype is not None and dtype not in _SAFETENSORS_NUMPY:",
       "dtype is not None and dtype == 'none':",
       [FORMATS, "-k", "dtype_numpy"], "a BF16 .safetensors ends in a TypeError traceback"),
    _m("reference-pt-meta-tensor", "reference/formats.py",
       "elif torch.is_tensor(value) and value.is_meta:",
       "elif torch.is_tensor(value) and False:",
       [FORMATS, "-k", "meta_tensor"], "a .pt meta tensor ends in NotImplementedError"),
    _m("reference-pt-expanded-size", "reference/formats.py",
       "    _check_size(sum(t.numel() * t.element_size() for t in _tensors(obj)), max_bytes, path,",
       "    _check_size(0, max_bytes, path,",
       [FORMATS, "-k", "huge"], "a small .pt of an expanded tensor grows past the limit"),
    _m("reference-pt-malicious-reason", "reference/formats.py",
       'if "unsupported global" in line.lower() or "Unsupported operand" in line:',
       'if "Unsupported global" in line or "Unsupported operand" in line:',
       [FORMATS, "-k", "malicious"], "the malicious .pt refusal gives only torch's advice"),
    _m("bench-missing-weights-file", "bench/training/checkpoint.py",
       "    if not path.is_file():\n        raise FileNotFoundError(",
       "    if False:\n        raise FileNotFoundError(",
       [CLIERR, "-k", "missing_checkpoint"], "a missing checkpoint 'is not a scratch checkpoint'"),
    _m("bench-predict-missing-picture", "bench/cli/predict.py",
       "            if not os.path.lexists(path):",
       "            if False:",
       [CLIERR, "-k", "missing_picture"], "predict calls a missing picture unreadable"),
    _m("bench-train-out-is-a-file", "bench/cli/train.py",
       "    if args.out.exists() and not args.out.is_dir():",
       "    if False:",
       [CLIERR, "-k", "blames"], "--out pointing at a file blames TWINBENCH_RESULTS"),
    _m("bench-epoch-non-finite-weights-unchecked", "bench/training/loop.py",
       "    bad = _non_finite_weights(runner)\n    if bad:\n        raise",
       "    bad = _non_finite_weights(runner)\n    if False:\n        raise",
       ["tests/test_training.py", "-k", "leaves_a_weight"],
       "an epoch that leaves a weight NaN with a finite loss goes on"),
    # --- scratch: threads (scratch.parallel and the kernels that split) -------------------
    _m("scratch-threads-blas-unlimited", "scratch/parallel.py",
       "    _blas_controller().limit(limits=1)\n", "    _blas_controller().limit(limits=None)\n",
       [PAR], "BLAS keeps its own pool beside scratch's: n workers times BLAS's threads"),
    _m("scratch-matmul-blas-threads-kept", "scratch/parallel.py",
       "    with _blas_controller().limit(limits=_threads):\n        return a @ b",
       "    _blas_controller().limit(limits=_threads)\n    return a @ b",
       [PAR, "-k", "matmul"], "a large product leaves BLAS's threads on through the next split"),
    _m("scratch-matmul-pieces-follow-threads", "scratch/parallel.py",
       "pieces = CORES if m * k * n", "pieces = _threads if m * k * n",
       [PAR, "-k", "split_matmul"], "a product's blocks follow the thread count"),
    _m("scratch-threads-zero-accepted", "scratch/parallel.py",
       "    if n < 1:\n", "    if n < 0:\n",
       [PAR], "set_num_threads(0) is accepted"),
    _m("scratch-threads-bool-accepted", "scratch/parallel.py",
       "if isinstance(n, bool) or not isinstance(n, int):", "if not isinstance(n, int):",
       [PAR], "set_num_threads(True) is taken as 1"),
    _m("scratch-threads-results-out-of-order", "scratch/parallel.py",
       "return [first, *(f.result() for f in futures)]",
       "return [*(f.result() for f in futures), first]",
       [PAR], "map_batches returns the calling thread's slice last"),
    _m("scratch-threads-small-work-split", "scratch/parallel.py",
       "nbytes // max(1, MIN_THREAD_BYTES)", "nbytes",
       [PAR], "every kernel splits, however small its work"),
    _m("scratch-threads-error-before-workers-finish", "scratch/parallel.py",
       "            wait(futures)\n", "            pass\n",
       [PAR], "an error in the caller's slice returns while workers still write"),
    _m("scratch-conv-chunks-follow-threads", "scratch/functional/conv.py",
       "-(-count // parallel.CORES) * parallel.CORES",
       "-(-count // parallel.get_num_threads()) * parallel.get_num_threads()",
       [PAR], "Conv2d's chunks follow the thread count, so its results change with it"),
    _m("scratch-recurrent-pieces-follow-threads", "scratch/functional/recurrent.py",
       "pieces = parallel.CORES if step_flops", "pieces = parallel.get_num_threads() if step_flops",
       [PAR, "-k", "recurrent"], "the recurrence's batch pieces follow the thread count"),
    _m("scratch-recurrent-dw-hr-last-piece", "scratch/functional/recurrent.py",
       "        dw_hr = dw_hr + e[2]", "        dw_hr = e[2]",
       [PAR, "-k", "recurrent"], "a projected LSTM keeps only the last piece's dW_hr"),
    _m("scratch-blocks-first-only", "scratch/parallel.py",
       "        for start in starts[r]:", "        for start in starts[r][:1]:",
       [PAR, "-k", "elementwise"], "an elementwise kernel fills only its first block per thread"),
    _m("scratch-maxpool-split-wrong-rows", "scratch/functional/pool.py",
       "np.multiply(winner[k], g[s], out=dst)",
       "np.multiply(winner[k], g[:s.stop - s.start], out=dst)",
       [PAR], "a thread's max-pool backward reads the first rows of the gradient"),
    _m("scratch-threads-pool-kept-after-fork", "scratch/parallel.py",
       "os.register_at_fork(after_in_child=_after_fork)\n", "",
       [PAR, "-k", "fork"], "a forked child waits forever on its parent's pool threads"),
    _m("bench-speed-cases-cached", "bench/measure/speed/run.py",
       '    sys.modules.pop(f"{__package__}.{Path(test_file).stem}", None)\n', "",
       [SPEED, "-k", "race_runs"],
       "the race reuses the cases of a test_race imported earlier in the process"),
    _m("bench-speed-scratch-threads-unpinned", "bench/measure/speed/test_speed.py",
       "    with held_threads(case.threads, case.threads):",
       "    with held_threads(case.threads):",
       [SPEED, "-k", "names"], "the speed suite leaves scratch's thread count as it found it"),

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
       "return np.asarray(grad_out * (1 - y * y))", "return np.asarray(grad_out * (1 - y))",
       [P], "Tanh's gradient 1 - y instead of 1 - y^2"),
    _m("scratch-gelu-grad", "scratch/functional/activation.py",
       "    pdf *= x\n    pdf += cdf", "    pdf += cdf", [P], "GELU's gradient drops the x factor"),
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
       "            if c is not None:\n                o -= c\n", "",
       [P, GRAD], "batch norm's dx forgets the mean(g) term (and forward its bias)"),
    _m("scratch-batchnorm-block-rows", "scratch/functional/batchnorm.py",
       "                o -= v[s] * b", "                o -= v[:s.stop - s.start] * b",
       [PAR, "-k", "batch_norm"], "a block of batch norm's dx reads the first samples' xhat"),
    _m("scratch-conv-bias-grad-axis", "scratch/functional/conv.py",
       "dbias = dy.sum(axis=1) if bias_grad else None",
       "dbias = dy.mean(axis=1) if bias_grad else None",
       [CONV, P], "Conv2d's bias gradient averaged"),
    _m("scratch-conv-chunk-dw-last", "scratch/functional/conv.py",
       "dweight = dweight + dw", "dweight = dw",
       [FUNC], "a chunked Conv2d keeps only the last chunk's weight gradient"),
    _m("scratch-lstm-block-starts-at-c0", "scratch/functional/recurrent.py",
       "blocks[k - 1].cell[-1] if k else c0", "c0",
       [SEQ], "each LSTM block of steps starts its forget-gate derivative from c0"),
    _m("scratch-lstm-forget-derivative-new-cell", "scratch/functional/recurrent.py",
       "out[..., hs:2 * hs] *= c_prev", "out[..., hs:2 * hs] *= tcell",
       [SEQ], "the LSTM forget gate's derivative uses tanh(c'), not the previous cell"),
    _m("scratch-gru-weight-ih-from-dgh", "scratch/functional/recurrent.py",
       "weight_ih=parallel.split_matmul(gx2.T,", "weight_ih=parallel.split_matmul(gh2.T,",
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

    # --- issue 30: the bugs a fresh catalogue slipped past the suite, and their kin ------
    _m("scratch-rnn-dropout-after-last-layer", "scratch/rnn.py",
       "if self.training and self.dropout > 0 and layer < self.num_layers - 1:",
       "if self.training and self.dropout > 0:",
       [SEQ], "RNN/LSTM/GRU dropout applied after the last layer too"),
    _m("scratch-lstm-proj-init-bound", "scratch/rnn.py",
       "bound = 1 / math.sqrt(self.hidden_size)",
       "bound = 1 / math.sqrt(self.proj_size or self.hidden_size)",
       [INIT], "an LSTM with proj_size starts U(+-1/sqrt(proj_size)), not 1/sqrt(hidden_size)"),
    _m("scratch-rnn-no-dx-between-layers", "scratch/rnn.py",
       "input_grad=input_grad or layer > 0)", "input_grad=input_grad)",
       [SEQ, "tests/test_training.py", "-k", "stacked"],
       "a stacked RNN with input_grad=False skips dx between its own layers"),
    _m("scratch-optim-state-dict-live-arrays", "scratch/optim/optimizer.py",
       "{k: (np.copy(v) if isinstance(v, np.ndarray) else v)", "{k: v",
       ["tests/test_proof_round_two.py"], "optimizer.state_dict() hands out the live state"),
    _m("scratch-optim-load-keeps-callers-arrays", "scratch/optim/optimizer.py",
       "        return np.array(arr, dtype=p.dtype)",
       "        return np.asarray(arr, dtype=p.dtype)",
       ["tests/test_proof_round_two.py"],
       "optimizer.load_state_dict keeps the caller's arrays as its state"),
    _m("scratch-module-state-dict-live-arrays", "scratch/module.py",
       "(name, member.data.copy() if isinstance(member, Parameter)\n"
       "             else np.array(member, copy=True))",
       "(name, member.data if isinstance(member, Parameter)\n"
       "             else member)",
       ["tests/test_proof_round_two.py"], "Module.state_dict() hands out the live arrays"),
    _m("scratch-plateau-max-rel-uses-min-threshold", "scratch/optim/lr_scheduler.py",
       "return a > best * (self.threshold + 1.0)", "return a > best * (1.0 - self.threshold)",
       ["tests/test_lr_scheduler.py"],
       "ReduceLROnPlateau max/rel improves above best * (1 - threshold)"),
    _m("scratch-plateau-max-abs-sign", "scratch/optim/lr_scheduler.py",
       "return a > best + self.threshold", "return a > best - self.threshold",
       ["tests/test_lr_scheduler.py"], "ReduceLROnPlateau max/abs improves above best - threshold"),
    _m("scratch-xavier-uniform-bound", "scratch/init.py",
       "bound = gain * math.sqrt(6.0 / (fan_in + fan_out))",
       "bound = gain * math.sqrt(3.0 / (fan_in + fan_out))",
       [INIT], "xavier_uniform_ draws from half torch's variance"),
    _m("scratch-load-max-bytes-per-member", "scratch/serialization.py",
       "                if total > max_bytes:", "                if nbytes > max_bytes:",
       ["tests/test_serialization_limits.py"],
       "load caps each member, not the total, at max_bytes"),
    _m("reference-onnx-bytes-leaves-eval", "reference/export.py",
       "    with eval_mode(model):\n        torch_model = twin(model).eval()",
       "    model.eval()\n    if True:\n        torch_model = twin(model).eval()",
       ["tests/test_onnx.py", "-k", "mode"], "onnx_bytes leaves the caller's model in eval mode"),
    _m("bench-check-onnx-train-mode", "bench/compare/onnx.py",
       "    with eval_mode(model):\n        expected = model(",
       "    if True:\n        expected = model(",
       ["tests/test_onnx.py", "-k", "mode"], "check_onnx runs scratch without eval mode"),
    _m("bench-predict-leaves-eval", "bench/training/runners.py",
       "        with eval_mode(self.model):\n"
       "            return np.concatenate([self.model(x[s]) for",
       "        self.model.eval()\n        if True:\n"
       "            return np.concatenate([self.model(x[s]) for",
       ["tests/test_proof_round_two.py"], "the scratch runner's predict leaves its model in eval"),
    _m("bench-hidden-features-leaves-eval", "bench/measure/learned.py",
       "    with eval_mode(runner.model):", "    runner.model.eval()\n    if True:",
       ["tests/test_proof_round_two.py"], "hidden_features leaves the model in eval mode"),
    _m("bench-learned-output-layer", "bench/measure/learned.py",
       'name = next(k for k in weights if k.rsplit(".", 1)[-1].startswith("weight"))',
       'name = next(k for k in weights if k.endswith("weight"))',
       ["tests/test_learned.py", "-k", "recurrent"],
       "the row-reading models' plot shows the output layer as their first layer"),
    _m("bench-tta-steps-only", "bench/measure/tta.py",
       "elapsed += e.seconds + e.eval_seconds", "elapsed += e.seconds",
       [TRAIN, "-k", "time_to_accuracy"],
       "time to accuracy leaves out the test evaluation that decides the target"),
    _m("bench-tta-target-exceeded", "bench/measure/tta.py",
       "if e.test_accuracy >= target:", "if e.test_accuracy > target:",
       [TRAIN, "-k", "time_to_accuracy"], "the target counts only when exceeded"),
    _m("bench-fit-stops-when-exceeded", "bench/training/loop.py",
       "if stop_at is not None and test_acc >= stop_at:",
       "if stop_at is not None and test_acc > stop_at:",
       [TRAIN, "-k", "fit_stops"], "fit's stop_at counts only when exceeded"),
    _m("bench-eval-timer-times-train-sample", "bench/training/loop.py",
       "        _, train_acc = evaluate(runner, data.x_train[sample], data.y_train[sample])\n"
       "        start = time.perf_counter()",
       "        start = time.perf_counter()\n"
       "        _, train_acc = evaluate(runner, data.x_train[sample], data.y_train[sample])",
       [TRAIN, "-k", "fit_times"], "the evaluation timer also times the train-accuracy sample"),
    _m("bench-image-limit-per-side", "bench/datasets/images.py",
       "if w * h > MAX_PIXELS:", "if max(w, h) > MAX_PIXELS:",
       ["tests/test_predict.py", "-k", "pixel"], "the pixel cap is applied to each side"),

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

    # --- issue 30: torch's forward names, fully masked attention rows, target gradients --
    _m("scratch-linear-forward-named-x", "scratch/linear.py",
       "    def forward(self, input: np.ndarray) -> np.ndarray:\n        check_input(input,",
       "    def forward(self, x: np.ndarray) -> np.ndarray:\n        input = x\n"
       "        check_input(input,",
       ["tests/test_signatures.py"], "Linear(...)(input=x) raises TypeError: forward names x"),
    _m("scratch-attention-is-causal-default", "scratch/attention.py",
       "average_attn_weights: bool = True, is_causal: bool = False):",
       "average_attn_weights: bool = True, is_causal: bool | None = None):",
       ["tests/test_signatures.py"], "a forward default other than torch's"),
    _m("scratch-attention-masked-rows-nan", "scratch/attention.py",
       "zero_masked_rows=not need_weights)", "zero_masked_rows=False)",
       ["tests/test_attention_masks.py"],
       "a fully masked row is NaN on the need_weights=False path: a padded sequence's NaN "
       "reaches every gradient of a TransformerEncoderLayer"),
    _m("scratch-attention-masked-rows-zero-with-weights", "scratch/attention.py",
       "zero_masked_rows=not need_weights)", "zero_masked_rows=True)",
       ["tests/test_attention_masks.py"],
       "need_weights=True gives a fully masked row 0 where torch's weights path gives NaN"),
    _m("scratch-safe-softmax-any-masked", "scratch/functional/attention.py",
       "dead = np.all(s == -np.inf", "dead = np.any(s == -np.inf",
       ["tests/test_attention_masks.py"], "a partly masked row is zeroed too"),
    _m("scratch-loss-target-grad-sign", "scratch/loss.py",
       "return (dx, -dx) if target_grad else dx", "return (dx, dx) if target_grad else dx",
       ["tests/test_losses_target_grad.py"],
       "an elementwise loss's target gradient has the input gradient's sign"),
    _m("scratch-ce-target-grad-ignores-smoothing", "scratch/functional/loss.py",
       "d = cache.logp * -(1 - cache.label_smoothing)", "d = -cache.logp",
       ["tests/test_losses_target_grad.py"],
       "the probabilities' gradient forgets the (1 - label_smoothing) factor"),
    _m("scratch-ce-target-grad-unweighted", "scratch/functional/loss.py",
       "    if cache.weight is not None:\n        d = d * cache.weight\n", "",
       ["tests/test_losses_target_grad.py"],
       "the probabilities' gradient forgets the class weights"),
    _m("scratch-bce-target-grad-clamped", "scratch/functional/loss.py",
       "d = -np.log(x / (1 - x))",
       "d = np.maximum(np.log1p(-x), LOG_CLAMP) - np.maximum(np.log(x), LOG_CLAMP)",
       ["tests/test_losses_target_grad.py"],
       "BCELoss's target gradient from the clamped logs: finite at x = 0 and 1, where "
       "torch's is infinite"),
    _m("scratch-bce-logits-target-grad", "scratch/functional/loss.py",
       "pos_weight * _softplus_neg(x) - _softplus_neg(-x)", "pos_weight * _softplus_neg(x) - x",
       ["tests/test_losses_target_grad.py"],
       "BCEWithLogitsLoss's target gradient with pos_weight drops a softplus(-x)"),
    _m("bench-compare-target-not-paired", "bench/compare/parity.py",
       'differentiated["target"] = ttarget.requires_grad_(True)',
       "ttarget.requires_grad_(True)",
       ["tests/test_losses_target_grad.py"],
       "compare(target_grad=True) never pairs the target's gradient: nothing is checked"),

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
       "    return plan_report(results_dir, pages, run_set=run_set).stale",
       "    return write_report(results_dir, pages, run_set=run_set)",
       [REPORT, "-k", "check_report"], "report --check rewrites the files it checks"),
    _m("bench-finish-run-always-publishes", "bench/results/report.py",
       "    if publish:\n        checkout = checkout or find_checkout()",
       "    if True:\n        checkout = checkout or find_checkout()",
       [REPORT, "-k", "finish_run"], "a run is published without --publish"),
    # --- issue 29, items 1, 2, 12, 13: the demo, downloads, images ----------------------
    _m("demo-serves-links-out", "bench/demo/app.py",
       "    if not target.is_relative_to(root) or target.suffix != Path(name).suffix:",
       "    if target.suffix != Path(name).suffix:",
       ["tests/test_demo.py", "-k", "own_regular"],
       "the demo serves what a link in its results folder points to outside it"),
    _m("demo-serves-other-kinds", "bench/demo/app.py",
       "    if not target.is_relative_to(root) or target.suffix != Path(name).suffix:",
       "    if not target.is_relative_to(root):",
       ["tests/test_demo.py", "-k", "own_regular"],
       "leak.png, a link to secret.txt beside it, is served"),
    _m("demo-results-run-html", "bench/demo/app.py",
       'MarkdownIt("commonmark", {"html": False})', 'MarkdownIt("commonmark", {"html": True})',
       ["tests/test_demo.py", "-k", "html_with"],
       "a script in a results table runs in the results view"),
    _m("demo-results-any-link", "bench/demo/app.py",
       '    md.core.ruler.push("local_results", _local_results(root))', "    pass",
       ["tests/test_demo.py", "-k", "html_with"],
       "a results table links and loads images from anywhere"),
    _m("demo-host-prefix-only", "bench/demo/app.py",
       "if not LOCAL_HOST.fullmatch(host.lower()):", "if not LOCAL_HOST.match(host.lower()):",
       ["tests/test_demo.py", "-k", "host_header"],
       "Host 127.0.0.1.evil.example passes: DNS rebinding reads the results"),
    _m("demo-post-skips-origin", "bench/demo/app.py",
       '    if method in ("GET", "HEAD"):\n        return None',
       '    if method in ("GET", "HEAD", "POST"):\n        return None',
       ["tests/test_demo.py", "-k", "page_itself"], "a cross-origin POST is accepted"),
    _m("demo-text-plain-accepted", "bench/demo/app.py",
       'if kind.split(";")[0].strip().lower() != "application/json":',
       'if kind.split(";")[0].strip().lower() not in ("application/json", "text/plain"):',
       ["tests/test_demo.py", "-k", "page_itself"],
       "a text/plain POST, which a foreign page may send without asking, is accepted"),
    _m("demo-nested-json-500", "bench/demo/app.py",
       "    except RecursionError:\n", "    except MemoryError:\n",
       ["tests/test_demo.py", "-k", "nested"], "deeply nested JSON is a 500"),
    _m("demo-classify-on-event-loop", "bench/demo/app.py",
       "answer = await anyio.to_thread.run_sync(classify, twins, png, limiter=workers)",
       "answer = classify(twins, png)",
       ["tests/test_demo.py", "-k", "answers_while"],
       "classification blocks the event loop: GET / waits for every drawing"),
    _m("demo-unbounded-workers", "bench/demo/app.py",
       "workers = anyio.CapacityLimiter(WORKERS)", "workers = anyio.CapacityLimiter(40)",
       ["tests/test_demo.py", "-k", "answers_while"],
       "any number of drawings are classified at once, on shared models"),
    _m("images-bytesio-in-message", "bench/datasets/images.py",
       "    except Image.UnidentifiedImageError:  # its message names",
       "    except ImageError:  # its message names",
       ["tests/test_demo.py", "-k", "no_python_object"],
       "a 422 names <_io.BytesIO object at 0x...>"),
    _m("images-16-bit-clipped", "bench/datasets/images.py",
       '        im = im.convert("I")', '        im = im.convert("L")',
       ["tests/test_predict.py", "-k", "16_bit"],
       "16-bit grey levels clipped to 8 bits: a digit becomes a blank image"),
    _m("images-fifo-opened", "bench/datasets/images.py",
       "    if not stat.S_ISREG(mode):", "    if stat.S_ISDIR(mode):",
       ["tests/test_predict.py", "-k", "fifo"], "a FIFO is handed to Pillow"),
    _m("images-no-reduction", "bench/datasets/images.py",
       "    if factor > 1:\n        im = im.reduce(factor)",
       "    if factor > 1 << 20:\n        im = im.reduce(factor)",
       ["tests/test_predict.py", "-k", "large_picture"],
       "a 6300x6300 picture goes through the float math at full size (0.9 GB)"),
    _m("download-head-without-deadline", "bench/datasets/download.py",
       "opener = urllib.request.build_opener(_HTTPHandler(end), _HTTPSHandler(end))",
       "opener = urllib.request.build_opener()",
       ["tests/test_datasets_faults.py", "-k", "trickling"],
       "a mirror trickling its status line and headers holds a download past its deadline"),
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
    # --- issue 31, item 1 (share B): group and instance norm, adaptive max and 1-D pools --
    _m("scratch-adaptive-max-window-one-too-long", "scratch/functional/pool.py",
       "np.minimum(start[:, None] + np.arange(k), end[:, None] - 1)",
       "np.minimum(start[:, None] + np.arange(k), end[:, None])",
       [NP, "-k", "bit_for_bit"], "adaptive max windows reach one element past their end"),
    _m("scratch-adaptive-max-nan-not-last", "scratch/functional/pool.py",
       "k = first_max(slabs, y).argmax(axis=0)", "k = slabs.argmax(axis=0)",
       [NP, "-k", "nan_and_minus_inf"], "a window holding NaN routes to its first NaN"),
    _m("scratch-adaptive-max-overlaps-overwrite", "scratch/functional/pool.py",
       "    flat = np.bincount((indices + planes).ravel(), weights=grad_out.ravel(),\n"
       "                       minlength=n * c * h * w)",
       "    flat = np.zeros(n * c * h * w)\n"
       "    flat[(indices + planes).ravel()] = grad_out.ravel()",
       [NP, "-k", "bit_for_bit"], "an element winning several windows keeps one gradient"),
    _m("scratch-groupnorm-divisibility-unchecked", "scratch/normalization.py",
       "if num_channels % num_groups:", "if num_channels < num_groups:",
       [NP, "-k", "divisible"], "GroupNorm accepts channels that groups do not divide"),
    _m("scratch-instancenorm-biased-running-var", "scratch/instancenorm.py",
       "var.mean(axis=0) * dt(length / (length - 1))", "var.mean(axis=0)",
       [NP, "-k", "running_statistics"], "InstanceNorm's running_var takes the biased variance"),
    _m("scratch-instancenorm-counts-batches", "scratch/instancenorm.py",
       "        m = 0.0 if self.momentum is None else self.momentum\n",
       "        m = 0.0 if self.momentum is None else self.momentum\n"
       "        self.num_batches_tracked += 1\n",
       [NP, "-k", "running_statistics"], "InstanceNorm counts num_batches_tracked"),
    _m("scratch-instancenorm-single-element-allowed", "scratch/instancenorm.py",
       "if instance_stats and length == 1:", "if instance_stats and length == 0:",
       [NP, "-k", "bad_input"], "InstanceNorm normalises one spatial element to 0"),
    _m("scratch-groupnorm-grad-without-weight", "scratch/functional/normalization.py",
       "dxhat = grad_out if weight is None else grad_out * weight[:, None]",
       "dxhat = grad_out", [P, "-k", "GroupNorm"], "GroupNorm's dx forgets the weight"),
    _m("scratch-pool1d-indices-dropped", "scratch/pooling.py",
       "            return tuple(o[..., 0, :] for o in out)\n",
       "            return out[0][..., 0, :]\n",
       [NP, "-k", "unbatched"], "MaxPool1d(return_indices=True) returns no indices"),
    # --- issue 31 item 1: ConvTranspose1d / ConvTranspose2d --------------------------------------
    _m("scratch-convtranspose-reach-unpadded", "scratch/functional/convtranspose.py",
       "xg = x if reach == (h, w) else np.pad(", "xg = x if True else np.pad(",
       [CTR, "-k", "plain_scatter"],
       "output_padding >= stride (with dilation): dW pairs x with the wrong rows of g"),
    _m("scratch-convtranspose-bias-grad-mean", "scratch/functional/convtranspose.py",
       "dbias = channel_sum(grad_out.reshape(n, grad_out.shape[1], -1)) if bias_grad",
       "dbias = channel_sum(grad_out.reshape(n, grad_out.shape[1], -1)) / n if bias_grad",
       [CTR, "-k", "plain_scatter"], "ConvTranspose2d's bias gradient averaged over the batch"),
    _m("scratch-convtranspose-dx-uncropped", "scratch/functional/convtranspose.py",
       "        dx = dx[:, :, :h, :w]  # (N, C_in, H, W)", "",
       [CTR, "-k", "plain_scatter"], "dx keeps the rows only output_padding >= stride reaches"),
    _m("scratch-convtranspose-output-size-range", "scratch/convtranspose.py",
       "high = [m + s - 1 for m, s in zip(low, self.stride)]",
       "high = [m + s for m, s in zip(low, self.stride)]",
       [CTR, "-k", "unreachable"], "output_size one past the last reachable size is accepted"),
    _m("scratch-convtranspose-output-padding-at-stride", "scratch/convtranspose.py",
       "if op >= s and op >= dil:", "if op > s and op > dil:",
       [CTR, "-k", "refused"], "output_padding equal to the stride is accepted (torch refuses)"),
    _m("scratch-convtranspose-weight-conv-shaped", "scratch/convtranspose.py",
       "return (self.in_channels, self.out_channels // self.groups, *self.kernel_size)",
       "return (self.out_channels, self.in_channels // self.groups, *self.kernel_size)",
       [CTR, "-k", "follow_torch"], "the weight laid out as Conv2d's (out, in / G, k)"),
    _m("plain-convtranspose-no-output-padding", "scratch/functional/plain.py",
       "+ dilation[a] * (weight.shape[2 + a] - 1) + output_padding[a] + 1 for a in (0, 1))",
       "+ dilation[a] * (weight.shape[2 + a] - 1) + 1 for a in (0, 1))",
       [CTR, "-k", "plain_scatter"], "the plain scatter forgets output_padding"),
    _m("scratch-convtranspose-chunks-repeat-the-first", "scratch/functional/convtranspose.py",
       "y[s] = conv2d_input_grad(x[s], weight,",
       "y[s] = conv2d_input_grad(x[:s.stop - s.start], weight,",
       [CTR, "-k", "chunked"], "every batch chunk of the forward computes the first samples"),
    _m("scratch-convtranspose-input-grad-ignored", "scratch/functional/convtranspose.py",
       "    if input_grad:\n        dx, cols = conv2d_forward(",
       "    if True:\n        dx, cols = conv2d_forward(",
       [CTR, "-k", "input_grad_false"], "input_grad=False still computes dx"),
    # --- issue 31, share C: PReLU, Hardswish, Mish, KLDivLoss, CosineSimilarity ---------------
    _m("scratch-prelu-grad-at-zero", "scratch/functional/activation.py",
       "mask = x > 0\n    w = channel_view", "mask = x >= 0\n    w = channel_view",
       [P, "-k", "PReLU"], "PReLU passes gradient 1 at exactly 0, and no slope gradient"),
    _m("scratch-prelu-slope-grad-positive-side", "scratch/functional/activation.py",
       "slope = np.where(mask, 0, grad_out * x)", "slope = np.where(mask, grad_out * x, 0)",
       [P, "-k", "PReLU"], "PReLU's slope gradient sums over x > 0"),
    _m("scratch-prelu-no-channel-check", "scratch/activation.py",
       "if self.num_parameters > 1 and channels != self.num_parameters:",
       "if False and channels != self.num_parameters:",
       ["tests/test_prelu_kldiv_cosine.py", "-k", "prelu"],
       "PReLU takes an input whose channels are not its slopes"),
    _m("scratch-hardswish-kink", "scratch/functional/activation.py",
       "d *= np.abs(x) < 3", "d *= np.abs(x) <= 3",
       ["tests/test_prelu_kldiv_cosine.py", "-k", "hardswish"],
       "Hardswish's gradient at -3 and 3 from the sloped side"),
    _m("scratch-hardswish-0d-scalar", "scratch/functional/activation.py",
       "return parallel.map_blocks(_hardswish_block, x, dtype=x.dtype)",
       "return parallel.map_blocks(_hardswish_block, x, dtype=x.dtype)[()]",
       ["tests/test_prelu_kldiv_cosine.py", "-k", "0d_input"],
       "Hardswish of a 0-d input gives a numpy scalar, not an array"),
    _m("scratch-tanh-0d-scalar", "scratch/functional/activation.py",
       "return np.asarray(np.tanh(x))", "return np.tanh(x)",
       ["tests/test_module_db.py", "-k", "Tanh"],
       "Tanh of a 0-d input gives a numpy scalar (torch's corpus' scalar sample)"),
    _m("scratch-mish-grad-no-sigmoid", "scratch/functional/activation.py",
       "    np.divide(e, s, out=s)  # sigmoid(x)\n    s *= x", "    np.copyto(s, x)",
       [P, "-k", "Mish"], "Mish's gradient forgets softplus' derivative"),
    _m("scratch-mish-overflow", "scratch/functional/activation.py",
       "n = np.minimum(x, _MISH_FLAT_FROM)\n    np.exp(n, out=n)  # e",
       "n = np.exp(x)  # e",
       ["tests/test_prelu_kldiv_cosine.py", "-k", "mish"], "Mish's softplus overflows far out"),
    _m("scratch-layer-norm-mean-off", "scratch/functional/normalization.py",
       "1 / rows.shape[1], a.dtype)", "1 / (rows.shape[1] + 1), a.dtype)",
       [P, "-k", "LayerNorm or GroupNorm"], "layer and group norm's mean divides by M + 1"),
    _m("bench-tta-slowest-eval-batch", "bench/measure/tta.py",
       "return min(best, key=best.get)", "return max(best, key=best.get)",
       ["tests/test_main_job.py", "-k", "fastest_batch"],
       "time to accuracy evaluates at the slowest batch size"),
    _m("bench-full-run-generative-unscored", "bench/measure/main.py",
       "keep_scratch=judge if n == JUDGE else None", "keep_scratch=None",
       ["tests/test_main_job.py", "-k", "scores_generated"],
       "the full run keeps no trained classifier: its generative records have no score"),
    _m("bench-job-plan-other", "bench/results/summary.py",
       'if r["plan"] == rec["plan"]), None)', "), None)",
       ["tests/test_main_job.py", "-k", "main_jobs_time"],
       "the summary sets a default job's time beside the reference's full run"),
    _m("bench-job-time-last-step", "bench/measure/main.py",
       '"seconds": time.perf_counter() - start}',
       '"seconds": time.perf_counter() - began}',
       ["tests/test_main_job.py", "-k", "each_steps_seconds"],
       "the main job's time is its last step's, not the whole job's"),
    _m("bench-threads-not-given-back", "bench/results/machine.py",
       "        torch.set_num_threads(before[0])", "        pass",
       ["tests/test_peers.py", "-k", "threads_back"],
       "the peers' audit leaves torch on one thread: its record is another machine id"),
    _m("bench-tta-parts-newest-only", "bench/results/records.py",
       "        for part in parts:  # oldest first",
       "        for part in parts[-1:]:  # oldest first",
       ["tests/test_report.py", "-k", "parts"],
       "time to accuracy measured in parts shows only the newest part's seeds"),
    _m("bench-tta-first-seed-ignored", "bench/measure/tta.py",
       "for seed in range(first_seed, first_seed + seeds):", "for seed in range(seeds):",
       ["tests/test_main_job.py", "-k", "first_seed"],
       "a part of a run in parts measures seeds 0, 1, ... whatever its first seed"),
    _m("bench-tta-forked-not-fresh", "bench/measure/tta.py",
       'multiprocessing.get_context("spawn")', 'multiprocessing.get_context("fork")',
       ["tests/test_main_job.py", "-k", "fresh_process"],
       "time to accuracy forks this process instead of a fresh one"),
    _m("scratch-kl-div-xlogy", "scratch/functional/loss.py",
       "np.where(t == 0, 0, t * np.log(t)).astype(x.dtype, copy=False) - t * x",
       "(t * np.log(t)).astype(x.dtype, copy=False) - t * x",
       [P, "-k", "KLDivLoss"], "KLDivLoss gives NaN where the target is 0 (no xlogy)"),
    _m("scratch-kl-div-batchmean-last-dim", "scratch/functional/loss.py",
       "return shape[0] if shape else 1", "return shape[-1] if shape else 1",
       [P, "-k", "KLDivLoss"], "'batchmean' divides by the last dim, not the batch"),
    _m("scratch-kl-div-target-grad", "scratch/functional/loss.py",
       "np.log(t)) + t / t - x)", "np.log(t)) - x)",
       ["tests/test_losses_target_grad.py", "-k", "KLDivLoss"],
       "KLDivLoss's target gradient forgets the + 1"),
    _m("scratch-kl-div-mean-silent", "scratch/loss.py",
       'if self.reduction == "mean":\n            warnings.warn("reduction: \'mean\' divides',
       'if False:\n            warnings.warn("reduction: \'mean\' divides',
       ["tests/test_prelu_kldiv_cosine.py", "-k", "warns"],
       "KLDivLoss's 'mean' without torch's warning"),
    _m("scratch-cosine-clamped-norm-derivative", "scratch/functional/distance.py",
       "- y * unit / clamped), shape)", "- y * own / clamped ** 2), shape)",
       ["tests/test_prelu_kldiv_cosine.py", "-k", "zero_and_tiny"],
       "CosineSimilarity differentiates the clamped norm"),
    _m("scratch-cosine-no-unbroadcast", "scratch/functional/distance.py",
       "axes = tuple(range(lead)) + tuple(", "axes = tuple(range(0)) + tuple(",
       [P, "-k", "CosineSimilarity"], "CosineSimilarity's gradient keeps broadcast dims"),

    # --- the public twin check on scratch's multi-input, multi-output modules ------------
    _m("bench-check-scratch-extra-grads-kept", "bench/compare/check.py",
       "return grads[:len(grad_inputs)] if isinstance(grads, tuple) else grads",
       "return grads",
       [TWINS, "-k", "several"], "check() on a scratch LSTM compares its dh0 and dc0 as inputs"),
    _m("bench-check-scratch-one-input-only", "bench/compare/check.py",
       "grad_inputs = (0,) if is_loss or not floats else floats",
       "grad_inputs = (0,)",
       [TWINS, "-k", "several"], "check() on MultiheadAttention compares dq alone"),

    # --- issue 31: Upsample and F.interpolate ------------------------------------------------
    _m("scratch-upsample-nearest-no-shortcuts", "scratch/functional/upsample.py",
       "if shortcuts and not exact and out == size:", "if False:",
       [UPS, "-k", "matches_torch"],
       "2-D nearest floors d / scale where torch copies an axis whose size does not change"),
    _m("scratch-upsample-nearest-float64", "scratch/functional/upsample.py",
       "r = _scale(size, out, scale, np.float32)", "r = _scale(size, out, scale, np.float64)",
       [UPS, "-k", "float32"], "nearest's index computed in float64, not torch's float32"),
    _m("scratch-upsample-scale-recomputed", "scratch/functional/upsample.py",
       "scales = (None,) * dims if recompute_scale_factor else factors",
       "scales = (None,) * dims",
       [UPS, "-k", "matches_torch"], "interpolates with S / O where torch uses 1 / scale_factor"),
    _m("scratch-upsample-linear-no-clamp", "scratch/functional/upsample.py",
       "t = np.maximum(r * (d + dt(0.5)) - dt(0.5), dt(0))", "t = r * (d + dt(0.5)) - dt(0.5)",
       [UPS, "-k", "matches_torch"], "bilinear's source position is not clamped at 0"),
    _m("scratch-upsample-backward-not-transposed", "scratch/functional/upsample.py",
       "return ah[0].T @ dx if ah else dx", "return ah[0].T[::-1] @ dx if ah else dx",
       [UPS, "-k", "adjoint"], "backward sends each row's gradient to the mirrored row"),
    _m("scratch-upsample-both-size-and-scale", "scratch/functional/upsample.py",
       "if (size is None) == (scale_factor is None):",
       "if size is None and scale_factor is None:",
       [UPS, "-k", "bad_arguments"], "size and scale_factor both given: one silently ignored"),

    # --- issue 31, item 2: the ResNet's BasicBlock, lockstep's step limit, two-input ops ---
    _m("bench-resnet-shortcut-grad-dropped", "bench/experiments/models.py",
       "return None if dx is None else dx + shortcut", "return None if dx is None else dx",
       [RESNET, "-k", "twin or gradcheck"],
       "the residual add's adjoint: dL/dx forgets the shortcut's share"),
    _m("bench-resnet-downsample-unmasked", "bench/experiments/models.py",
       "shortcut = self.downsample.backward(g, input_grad=input_grad)",
       "shortcut = self.downsample.backward(grad_out, input_grad=input_grad)",
       [RESNET, "-k", "twin or gradcheck"],
       "the 1x1 shortcut gets the gradient from before the last ReLU's mask"),
    _m("bench-lockstep-step-limit-late", "bench/compare/lockstep.py",
       "            if report.steps == max_steps:\n                break",
       "            if report.steps == (max_steps or 0) + 1:\n                break",
       [RESNET, "-k", "lockstep_float64"], "lockstep's step limit runs one step too many"),
    _m("bench-speed-loss-target-differentiated", "bench/measure/speed/workloads.py",
       "self.txs[:1] if isinstance(self.model, scratch.Loss) else self.txs",
       "self.txs", [SPEED, "-k", "two_inputs"],
       "the torch loss case also differentiates the target, which scratch's backward skips"),
    # --- issue 31: the generative twins (VAE, DCGAN) ---------------------------------------
    _m("bench-vae-logvar-grad-no-half", "bench/experiments/generative.py",
       "dlogvar = grad_logvar + dz * eps * std * 0.5", "dlogvar = grad_logvar + dz * eps * std",
       [GEN, "-k", "named_twins or eps_and_logvar"],
       "the reparameterisation forgets d std / d logvar = std / 2"),
    _m("bench-vae-no-eps-grad-scale", "bench/experiments/generative.py",
       "return (dx, dz * std) if input_grad", "return (dx, dz) if input_grad",
       [GEN, "-k", "named_twins"], "the VAE's eps gradient misses the std factor"),
    _m("bench-elbo-kl-grad-sign", "bench/experiments/generative.py",
       "return dlogits, mu / n, (var - 1) * (0.5 / n)",
       "return dlogits, mu / n, (1 - var) * (0.5 / n)",
       [GEN, "-k", "elbo"], "the KL's logvar gradient has the wrong sign"),
    _m("bench-gan-no-discriminator-zero-grad", "bench/training/generative.py",
       "        opt_d.zero_grad()\n        loss_real = bce(disc(to_unit_range(x)), ones)",
       "        loss_real = bce(disc(to_unit_range(x)), ones)",
       [GEN, "-k", "lockstep_float64_tiny"],
       "the discriminator keeps the generator step's gradients into its own step"),
    _m("bench-gan-real-images-unscaled", "bench/training/generative.py",
       "loss_real = bce(disc(to_unit_range(x)), ones)\n        disc.backward(",
       "loss_real = bce(disc(x), ones)\n        disc.backward(",
       [GEN, "-k", "one_step"], "the GAN's real images stay in [0, 1], not the Tanh range"),
    _m("bench-gan-noise-same-every-epoch", "bench/training/generative.py",
       "self.noise = noise_rng(self.exp.seed, epoch)", "self.noise = noise_rng(self.exp.seed, 0)",
       [GEN, "-k", "noise"], "every epoch draws the same noise"),
    _m("bench-optimizer-pair-offset-lost", "bench/training/generative.py",
       "**{int(i) + offset: s for i, s in second[\"state\"].items()}",
       "**{int(i): s for i, s in second[\"state\"].items()}",
       [GEN, "-k", "optimizer_pair"],
       "the discriminator's Adam state overwrites the generator's in a checkpoint"),
    _m("bench-generative-lockstep-self", "bench/compare/lockstep_generative.py",
       "report.loss_diffs.append(abs(losses[0] - losses[1]))",
       "report.loss_diffs.append(abs(losses[0] - losses[0]))",
       [GEN, "-k", "lockstep_float64_tiny"],
       "the generative lockstep compares scratch's loss with itself"),
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
