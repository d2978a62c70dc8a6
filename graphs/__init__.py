"""The conversational agent as a pure LangGraph graph.

Nothing here imports Textual or touches the app's own tables: the service in
``chat_app.service`` compiles the graph with a checkpointer and a store.
"""
