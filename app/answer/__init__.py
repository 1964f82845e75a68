"""Answering: conversation.py turns a question into sources, a prompt and a streamed answer; prompts.py says what
the model is told; citations.py checks the answer against the index; results.py is what an answer is;
llama_index.py adapts our search and model to llama-index; chat_model.py runs the model (llama.cpp or an
OpenAI-compatible server); modelfiles.py finds and checks GGUF files."""
