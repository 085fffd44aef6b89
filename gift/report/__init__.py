"""Figures, tables and the claims report: the paper's numbers beside what the suite measured."""
