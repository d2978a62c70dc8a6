"""Modal screens: confirmations and text prompts."""
