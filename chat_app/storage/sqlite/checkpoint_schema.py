"""The checkpoint tables, created without loading LangGraph.

A new database needs them before anything reads it (the thread list and the
head reader query them), but the checkpointer that would create them imports
LangGraph: about half a second of a first start. The columns and keys are
SqliteSaver's (langgraph-checkpoint-sqlite 3.x), and so is the layout: a
checkpoint stored in LangGraph's format (uncompressed, ~1 KiB) is too long for
a WITHOUT ROWID row, which spills anything over about a quarter of a page to a
mostly empty overflow page (databases made while checkpoints were compressed
keep that layout). SqliteSaver's own ``CREATE TABLE IF NOT EXISTS`` later
finds both tables; a test compares them with the ones it creates.
"""

from __future__ import annotations

import sqlite3

CHECKPOINTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    parent_checkpoint_id TEXT,
    type TEXT,
    checkpoint BLOB,
    metadata BLOB,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id)
);
"""

WRITES_SCHEMA = """
CREATE TABLE IF NOT EXISTS writes (
    thread_id TEXT NOT NULL,
    checkpoint_ns TEXT NOT NULL DEFAULT '',
    checkpoint_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    task_path TEXT NOT NULL DEFAULT '',
    idx INTEGER NOT NULL,
    channel TEXT NOT NULL,
    type TEXT,
    value BLOB,
    PRIMARY KEY (thread_id, checkpoint_ns, checkpoint_id, task_id, idx)
);
"""


def create_checkpoint_tables(conn: sqlite3.Connection) -> None:
    """Create both tables where they are missing (one transaction)."""
    # IMMEDIATE: the write lock up front, waiting out the busy timeout; a
    # deferred one that read the schema first fails at once when another
    # process starting on the same new file created the tables meanwhile.
    conn.executescript("BEGIN IMMEDIATE;" + CHECKPOINTS_SCHEMA + WRITES_SCHEMA + "COMMIT;")
