"""Workflow records and LangGraph checkpoints on PostgreSQL (``DATABASE_URL``) or an embedded SQLite file."""

from common.storage.open import open_checkpointer, open_store
from common.storage.pages import BadPageToken
from common.storage.store import AgentExecution, Store, WorkflowRecord

__all__ = ["AgentExecution", "BadPageToken", "Store", "WorkflowRecord", "open_checkpointer", "open_store"]
