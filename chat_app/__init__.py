"""chat-app: a terminal chat app whose conversations survive anything."""

__version__ = "0.1.0"
