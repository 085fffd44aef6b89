"""GIFT: Group-relative Implicit Fine Tuning, with its baselines, evaluations and reports."""

__version__ = "0.1.0"
