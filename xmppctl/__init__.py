"""xmppctl: a command-line admin utility for XMPP accounts."""

__version__ = "0.1.0"
