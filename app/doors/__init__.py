"""The front ends, each a thin door over app/service.py: cli/ (the `dayone` command), web.py (the Gradio chat,
logins, /healthz), signin.py (the gate that keeps every route closed without a login), mcp.py (tools for coding
agents over MCP)."""
