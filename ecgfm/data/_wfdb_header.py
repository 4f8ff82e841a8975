"""A strict parser of the calibration fields of a WFDB header (``.hea``).

ecgfm reads the calibration here rather than from ``wfdb.rdrecord`` because ``wfdb`` (4.3)
silently replaces a missing or zero ADC gain by 200 (an *uncalibrated* signal per the WFDB
spec) and turns the units ``µV`` into ``V``. Either would scale an ECG wrongly without a
trace, so ecgfm parses the header text itself and refuses what it cannot calibrate.

Header layout (https://physionet.org/physiotools/wag/header-5.htm)::

    record_name n_sig [fs[/counter_freq[(base_counter)]] [sig_len [base_time [base_date]]]]
    file_name format[xspf][:skew][+offset] [gain[(baseline)][/units] [adc_res [adc_zero
        [init_value [checksum [block_size [description]]]]]]]     (one line per signal)

Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__: list[str] = []

_GAIN = re.compile(
    r"^(?P<gain>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"(?:\((?P<baseline>[-+]?\d+)\))?"
    r"(?:/(?P<units>\S+))?$"
)
_FORMAT = re.compile(
    r"^(?P<fmt>\d+)(?:x(?P<spf>\d+))?"  # storage format, samples per frame
    r"(?::(?P<skew>\d+))?(?:\+(?P<offset>\d+))?$"  # skew, byte offset
)
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class ChannelHeader:
    """Calibration of one signal as written in the header."""

    file_name: str
    fmt: str
    samples_per_frame: int
    skew: int
    byte_offset: int
    gain: float | None  # None: missing or 0, i.e. uncalibrated
    baseline: int
    units: str
    name: str | None


@dataclass(frozen=True)
class WfdbHeader:
    """The fields of a single-segment WFDB header that ecgfm needs."""

    path: Path
    record_name: str
    fs: float | None
    sig_len: int | None
    channels: tuple[ChannelHeader, ...]
    comments: tuple[str, ...]

    @property
    def n_sig(self) -> int:
        return len(self.channels)


def _decode(raw: bytes) -> str:
    # Headers are ASCII in practice; µ in a units field may be UTF-8 or Latin-1.
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _parse_channel(line: str, where: str) -> ChannelHeader:
    fields = line.split(None, 8)
    if len(fields) < 2:
        raise ValueError(f"{where}: malformed signal line {line!r} (needs a file name and format)")
    fmt_match = _FORMAT.match(fields[1])
    if fmt_match is None:
        raise ValueError(f"{where}: cannot parse the storage format {fields[1]!r} of {line!r}")
    gain: float | None = None
    baseline: int | None = None
    units = "mV"  # the WFDB default when the units are omitted
    if len(fields) > 2:
        m = _GAIN.match(fields[2])
        if m is None:
            raise ValueError(f"{where}: cannot parse the gain field {fields[2]!r} of {line!r}")
        value = float(m.group("gain"))
        gain = value if value != 0.0 else None
        if m.group("baseline") is not None:
            baseline = int(m.group("baseline"))
        if m.group("units") is not None:
            units = m.group("units")
    if baseline is None:
        # The spec: without an explicit baseline, the baseline equals the ADC zero.
        baseline = int(fields[4]) if len(fields) > 4 and _NUMBER.match(fields[4]) else 0
    name = fields[8].strip() if len(fields) > 8 and fields[8].strip() else None
    return ChannelHeader(
        file_name=fields[0],
        fmt=fmt_match.group("fmt"),
        samples_per_frame=int(fmt_match.group("spf") or 1),
        skew=int(fmt_match.group("skew") or 0),
        byte_offset=int(fmt_match.group("offset") or 0),
        gain=gain,
        baseline=baseline,
        units=units,
        name=name,
    )


def read_wfdb_header(path: Path) -> WfdbHeader:
    """Parse the header file ``path`` (``.hea``); raise ``ValueError`` if it is malformed."""
    where = f"WFDB header {path}"
    text = _decode(path.read_bytes())
    comments: list[str] = []
    lines: list[str] = []
    for raw_line in text.splitlines():
        line = raw_line.strip()
        if not line:
            continue
        if line.startswith("#"):
            comments.append(line[1:].strip())
        else:
            lines.append(line)
    if not lines:
        raise ValueError(f"{where} is empty (no record line)")
    rec = lines[0].split()
    if "/" in rec[0]:
        raise ValueError(
            f"{where} describes a multi-segment record ({rec[0]}); ecgfm reads single-segment "
            "records only — read the segments one by one"
        )
    if len(rec) < 2 or not rec[1].isdigit():
        raise ValueError(f"{where}: malformed record line {lines[0]!r} (expected 'name n_sig fs')")
    n_sig = int(rec[1])
    if n_sig == 0:
        raise ValueError(f"{where} declares no signals")
    fs: float | None = None
    if len(rec) > 2:
        m = _NUMBER.match(rec[2])
        if m is None:
            raise ValueError(f"{where}: cannot parse the sampling frequency {rec[2]!r}")
        fs = float(m.group(0))
    sig_len = int(rec[3]) if len(rec) > 3 and rec[3].isdigit() else None
    if len(lines) < 1 + n_sig:
        raise ValueError(f"{where} declares {n_sig} signals but has {len(lines) - 1} signal lines")
    channels = tuple(_parse_channel(line, where) for line in lines[1 : 1 + n_sig])
    return WfdbHeader(
        path=path,
        record_name=rec[0],
        fs=fs,
        sig_len=sig_len,
        channels=channels,
        comments=tuple(comments),
    )
