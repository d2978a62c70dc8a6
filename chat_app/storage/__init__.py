"""Where conversations are kept: one package per backend behind one protocol.

``backend`` holds the protocol every backend implements (the checkpointer,
the profile store, the thread index, the per-thread writer lock) and
``open_backend``, which picks the backend the settings name. Each backend is a
package of its own (``sqlite``, ``postgres``); what they share (the
serializer, compression, private files, migration) sits at this level.
"""
