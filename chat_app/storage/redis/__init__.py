"""The Redis backend: LangGraph's Redis saver and store, and the app's index beside them."""
