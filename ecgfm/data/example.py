"""A real 12-lead ECG bundled with ecgfm, for demos, docs and smoke tests.

PTB-XL record 1 (500 Hz, 10 s, 12 leads; CC BY 4.0, attribution in ``ecgfm/_assets/README.md``).
"""

from __future__ import annotations

from importlib import resources

from ecgfm.data.wfdb_reader import read_wfdb
from ecgfm.signal import ECGRecord

__all__ = ["example_record"]


def example_record() -> ECGRecord:
    """PTB-XL record ``00001_hr``: ``(12, 5000)`` float32 mV at 500 Hz, canonical lead order.

    Read from the copy shipped inside the package, so it works after ``pip install ecgfm``
    without network access or the PTB-XL download.
    """
    assets = resources.files("ecgfm") / "_assets"
    with resources.as_file(assets / "00001_hr.hea") as header:
        return read_wfdb(
            header,
            patient_id="15709",
            labels={"scp_codes": {"NORM": 100.0, "LVOLT": 0.0, "SR": 0.0}},
            meta={"dataset": "PTB-XL", "licence": "CC BY 4.0"},
        )
