"""The service the UI and the CLI talk to. Never imports Textual."""
