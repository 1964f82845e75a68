"""Offline proof: `dayone index`, `ask` and `serve` run with a socket guard that allows only loopback, and
make zero outbound attempts (no hub download, no telemetry, no analytics, no version check)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.app.answer.test_chat_model import llm_env
from tests.conftest import EXAMPLE_SHOP, ROOT, free_port

GUARD = Path(__file__).resolve().parent / "netguard"


def _guarded_env(home: Path, log: Path) -> dict[str, str]:
    # Only what a user's shell would carry: none of the offline switches the test suite sets for itself,
    # so dayone must switch every library off on its own.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DAYONE_", "HF_", "TRANSFORMERS_", "GRADIO_")) and k not in
           ("DO_NOT_TRACK", "ANONYMIZED_TELEMETRY", "TOKENIZERS_PARALLELISM")}
    return {**env, **llm_env(), "DAYONE_HOME": str(home), "DAYONE_NETGUARD_LOG": str(log),
            "PYTHONPATH": os.pathsep.join([str(GUARD), str(ROOT)])}


def test_the_guard_catches_an_outbound_attempt(tmp_path):
    log = tmp_path / "net.log"
    code = ("import urllib.request\ntry:\n urllib.request.urlopen('http://example.com', timeout=5)\n"
            "except OSError:\n pass")
    subprocess.run([sys.executable, "-c", code], env=_guarded_env(tmp_path / "home", log), check=True, timeout=60)
    assert "getaddrinfo 'example.com'" in log.read_text()


def test_index_ask_and_serve_make_no_outbound_connection(tmp_path):
    home, log = tmp_path / "home", tmp_path / "net.log"
    env = _guarded_env(home, log)

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "app.doors.cli", *args], env=env, cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)

    result = cli("index", str(EXAMPLE_SHOP))
    assert result.returncode == 0, result.stderr
    result = cli("ask", "--json", "where are orders paid?")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["citations"][0]["path"] == "api/orders.py"

    port = free_port()
    with open(tmp_path / "serve.log", "w") as serve_log:
        proc = subprocess.Popen([sys.executable, "-m", "app.doors.cli", "serve", "--port", str(port)], env=env,
                                cwd=tmp_path, stdout=serve_log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.time() + 180
            while True:
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=2) as r:
                        assert json.load(r)["index"] is True
                    break
                except OSError:
                    assert proc.poll() is None and time.time() < deadline, (tmp_path / "serve.log").read_text()
                    time.sleep(0.5)
            with urllib.request.urlopen(url + "/", timeout=30) as r:
                assert b"dayone" in r.read()
            from gradio_client import Client

            client = Client(url, verbose=False)
            history, _question, sources, _flags, _facts = client.predict("where are orders paid?", [], [], [],
                                                                  api_name="/chat")
            assert "api/orders.py" in sources
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    attempts = log.read_text() if log.exists() else ""
    assert attempts == "", f"outbound attempts:\n{attempts}"
