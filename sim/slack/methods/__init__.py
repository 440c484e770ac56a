"""The Web API methods, one module per family; importing this package registers them all."""

from sim.slack.methods import chat, directory, files, history, views
from sim.slack.methods.base import METHODS

__all__ = ["METHODS", "chat", "directory", "files", "history", "views"]
