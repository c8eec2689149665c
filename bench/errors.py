"""The errors a user can cause or fix: the family the command line reports in one line.

`UserError` is the base of every exception that means "the input, the files or
the machine are not as expected", as opposed to a bug: a data set that cannot be
had (`bench.datasets.DatasetError`), a results directory that cannot be written
(`bench.results.records.ResultsDirError`), a file that is not what it should be
(`FileFormatError`: a checkpoint, a record, a README), a training run that
diverged (`bench.training.TrainingDiverged`). `twinbench` (bench.cli.main)
prints such an error's message, which names the file and what was wrong, and
exits with status 1; every other exception is a bug and keeps its traceback.
`--debug` (or TWINBENCH_DEBUG=1) shows the traceback of a user error too.

This module is below every layer of bench, so any of them may raise these.

`INPUT_ERRORS` are what code that cannot raise `UserError` raises for bad input:
scratch and reference (which may not import bench) and the readers of pictures,
weights and ONNX files raise ValueError, FileNotFoundError and their kin. The
commands that hand a user's file to them turn these into `UserError` with
`user_error`.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix; the message says what and where."""


class FileFormatError(UserError, ValueError):
    """A file twinbench reads (checkpoint, record, manifest, README) is not what it should
    be; the message names the file."""


# What scratch, reference and third-party readers raise for a user's file or argument.
INPUT_ERRORS = (ValueError, FileNotFoundError, IsADirectoryError, PermissionError, ImportError)


def user_error(err: BaseException) -> UserError:
    """`err` (one of INPUT_ERRORS) as a UserError with its message, to raise `from err`."""
    return UserError(str(err))
