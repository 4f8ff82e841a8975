"""Converters from official checkpoints (ECGFounder, ST-MEM) to ecgfm models.

Pickled checkpoints are only ever opened with ``torch.load(..., weights_only=True)``.
"""
