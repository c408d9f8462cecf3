"""Finished stores: the full analysis, ensembles of runs, temperatures, the report and its figures."""
