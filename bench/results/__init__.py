"""Results: the atomic writer, raw records with the machine they ran on, tables and plots.

- `atomic`: bench's door to the one atomic writer, `scratch.atomic` (`write_atomic`,
  `temp_file`, `sweep_stale_parts`), used by every package that writes a file.
- `machine`: the machine fingerprint and its one-line label.
- `records`: `append_record` (never overwrites), `load_records`, `results_root`.
- `tables`: records -> DataFrames, one block per machine.
- `plots`: records -> PNG figures.
- `report`: tables and plots into results/ and between the README's markers.
"""
