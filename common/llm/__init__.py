"""Chat models: the factory and the offline model."""

from common.llm.factory import ModelRole, build_chat_model
from common.llm.offline import OfflineChatModel, OfflineReply

__all__ = ["ModelRole", "OfflineChatModel", "OfflineReply", "build_chat_model"]
