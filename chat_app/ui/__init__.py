"""The Textual TUI: it calls ChatService and renders the events it yields."""
