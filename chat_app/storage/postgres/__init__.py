"""The PostgreSQL backend: LangGraph's PostgreSQL saver and store, with the app's tables."""
