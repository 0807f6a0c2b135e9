"""certmint: the command-line client for the certmint certificate service."""

__version__ = "0.1.0"
