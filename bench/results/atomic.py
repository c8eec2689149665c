"""bench's door to the one atomic writer, `scratch.atomic`.

Every file bench writes (the data cache, results records, tables and plots,
training outputs) goes through `write_atomic` or `temp_file`: a temporary
`.NAME.XXXX.part` beside the target, fsynced, renamed (or hard-linked, for
records that must never be overwritten), the directory fsynced, the umask's
mode. The writer lives in scratch because scratch.save and reference's writers
use it too and may not import bench; bench imports it from here, its bottom
layer. `sweep_stale_parts` removes what a killed writer left, every temporary
of the writer's one pattern.
"""

from scratch.atomic import PART_SUFFIX, sweep_stale_parts, temp_file, write_atomic

__all__ = ["PART_SUFFIX", "sweep_stale_parts", "temp_file", "write_atomic"]
