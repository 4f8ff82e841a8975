"""Bundled pretrained weights, installed as the package ``ecgfm._weights`` (see README.md)."""
