"""sentinel: collect → detect → correlate → tickets, in one daemon."""

__version__ = "0.1.0"
