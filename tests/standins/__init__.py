"""Small local stand-ins for inference servers that cannot be installed here (Ollama, StackFlow)."""
