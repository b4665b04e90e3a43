"""mailbot: serves requests for calibrated ALMA Measurement Sets from the aog@ mailbox."""

__version__ = "0.1.0"
