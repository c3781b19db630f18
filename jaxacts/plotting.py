"""Figures from logged data: learning curves from metrics.jsonl rows (mean +- std over seeds)."""

from jaxacts._src.plotting import learning_curves

__all__ = ["learning_curves"]
