"""The dialogue: the engine that decides the conversation (Rasa, over HTTP), its
local runtime, the custom actions Rasa calls back, and the knowledge base."""
