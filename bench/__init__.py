"""twinbench's bench package: data sets, parity reports, experiments and the CLI.

Imports scratch and reference, never the other way round.
"""
