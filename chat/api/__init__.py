"""The thread, message, run and run step endpoints of the `/v1/` API (OpenAI Assistants v2 wire format)."""
