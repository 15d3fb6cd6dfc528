"""Presets for common OpenAI-compatible endpoints: a base URL and a sensible default model."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    label: str
    kind: str
    base_url: str
    default_model: str
    api_style: str = "chat_completions"
    env_prefix: str = ""


PRESETS: dict[str, Preset] = {
    "openai": Preset("OpenAI", "openai", "", "gpt-4.1-mini", "responses", env_prefix="OPENAI"),
    "gemini": Preset(
        "Google Gemini",
        "openai_compatible",
        "https://generativelanguage.googleapis.com/v1beta/openai/",
        "gemini-2.5-flash",
        env_prefix="GEMINI",
    ),
    "groq": Preset(
        "Groq", "openai_compatible", "https://api.groq.com/openai/v1", "llama-3.3-70b-versatile", env_prefix="GROQ"
    ),
    "openrouter": Preset(
        "OpenRouter",
        "openai_compatible",
        "https://openrouter.ai/api/v1",
        "openai/gpt-4.1-mini",
        env_prefix="OPENROUTER",
    ),
    "ollama": Preset("Ollama", "openai_compatible", "http://127.0.0.1:11434/v1", "llama3.2"),
    "vllm": Preset("vLLM", "openai_compatible", "http://127.0.0.1:8001/v1", "Qwen/Qwen2.5-7B-Instruct"),
    "lmstudio": Preset("LM Studio", "openai_compatible", "http://127.0.0.1:1234/v1", "local-model"),
    "litellm": Preset("LiteLLM proxy", "openai_compatible", "http://127.0.0.1:4000/v1", "gpt-4.1-mini"),
}
