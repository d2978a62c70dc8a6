"""The memory backend: LangGraph's in-memory saver and store; nothing on disk."""
