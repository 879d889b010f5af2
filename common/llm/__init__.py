"""Chat models: the factory and the offline model."""

from common.llm.factory import ModelRole, build_chat_model
from common.llm.offline import OfflineChatModel, OfflineReply, TemplateBehaviour

__all__ = ["ModelRole", "OfflineChatModel", "OfflineReply", "TemplateBehaviour", "build_chat_model"]
