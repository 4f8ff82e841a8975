"""Preprocessing steps, presets, view generators and augmentations.

Import from the submodules (``ecgfm.transforms.functional``, ``.preprocessing``, ``.presets``,
``.views``, ``.augment``); the names re-exported here are the stable public API.
"""
