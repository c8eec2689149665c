"""Results: raw records with the machine they ran on, tables and plots.

Every file is written through the one atomic writer, `scratch.atomic`.

- `machine`: the machine fingerprint and its one-line label.
- `records`: `append_record` (never overwrites), `load_records`, run directories
  (`run_dir`, `runs_root`), the published set and its manifest.
- `tables`: records -> one markdown table each, one machine per table.
- `registry`: every table declared once (`TABLES`).
- `plots`: records -> PNG figures.
- `report`: tables and plots into a run directory, or results/ and between the markers
  of the README and docs pages; `finish_run` ends every command that records a run.
- `summary`: a run's `summary.md` against the published reference.
"""
