"""Readers: WFDB records, PTB-XL, PhysioNet/CinC 2017, plain arrays."""
