"""Secrets inside ordinary files never reach the index: not the stored text, the vectors, the manifest, the
symbol table, search results or answers. Real pipeline (tree-sitter, MiniLM, qdrant-edge) on a repository with
one planted secret of every kind the redactor knows."""

from __future__ import annotations

import base64
import json
import random
import sqlite3

import pytest
from typer.testing import CliRunner

import indexer.pipeline.run as pipeline
from app.doors.cli import app
from app.settings import load_settings
from indexer.pipeline.generations import IndexDir
from indexer.pipeline.run import Indexer
from indexer.reader import IndexReader
from indexer.settings import RepoConfig
from indexer.sources.redaction import redact, redact_file
from tests.conftest import make_repo

runner = CliRunner()

PEM_BODY = ("MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u"
            "+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyehkd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzu"
            "oaeyIAwMGTtK8hIu9xK1b4bYXDR2SrbSDvSBlGLNbUXeqwE9s8QnQnmA8qsXazPoMrfOkvgQgBHqWZ")
PEM = ("-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(PEM_BODY[i : i + 64] for i in range(0, len(PEM_BODY), 64))
       + "\n-----END RSA PRIVATE KEY-----")
GCP_KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDGzQ7fXq3Jv9Wd2Ksl0PmR5tYhNc8EeB"
_RNG = random.Random(14)


def _pem_b64(label: str = "RSA PRIVATE KEY", size: int = 600) -> str:
    """A PEM block of random bytes, base64-encoded again as Kubernetes and kubeconfig files hold keys."""
    body = base64.b64encode(_RNG.randbytes(size)).decode()
    pem = f"-----BEGIN {label}-----\n" + "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    return base64.b64encode(f"{pem}\n-----END {label}-----\n".encode()).decode()


def _der_key_b64(size: int = 300) -> str:
    """A DER PKCS#8 private key's shape (SEQUENCE, INTEGER 0, ...) around random bytes, in base64."""
    body = b"\x02\x01\x00\x30\x0d" + _RNG.randbytes(size)
    return base64.b64encode(b"\x30\x82" + len(body).to_bytes(2, "big") + body).decode()


def _body(b64: str) -> str:
    """What must not survive of a base64 PEM: its random middle (the header and footer are the same in every
    base64 PEM of that label, so a certificate that stays shares them)."""
    return b64[48:-48]


TLS_KEY_B64, CLIENT_KEY_B64, ACQUIRER_PEM_B64 = _pem_b64(), _pem_b64("EC PRIVATE KEY", 120), _pem_b64("PRIVATE KEY")
TLS_CRT_B64 = _pem_b64("CERTIFICATE")  # public: stays
SIGNING_KEY_DER_B64 = _der_key_b64()

# kind -> the secret value as planted (what must never come back)
SECRETS = {
    "aws-access-key": "AKIAQ3EGRTZ5HXK7PLMN",
    "aws-secret": "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",
    "gcp-private-key": GCP_KEY_BODY,
    "gcp-private-key-id": "7d3c9a41f0b28e65c1d4a97b3e20f58c6a1b9d04",
    "gcp-api-key": "AIzaSyD4e9Xq2Lm7Rt0Vb8Nc3Pk6Hj1Gf5Ds9Wq",
    "azure-storage-key": "q7XbN2mK9vR4tY8wZ1cL5pH3jF6gD0sA2eU7iO9kM4nB8vC1xZ5qW3rT6yU0pL2aS4dF7gH9jK1lZ3xC5vB8nM==",
    "azure-sas": "r8K2mN5qP9tW3xZ7cV1bL4hJ6gF0dS8aE2uI5oY%3D",
    "azure-client-secret": "Xy38Q~Abc4DefGh5IjkLm6NopQr7StuVw8YzAb9C",
    "private-key": PEM_BODY,
    "github-token": "ghp_R4nD0mT0k3nV4lu3F0rT3st1ngXyZ12345678",
    "github-pat": "github_pat_11AB3CDEF0Gh1Jk2Lm3Np4_Qr5St6Uv7Wx8Yz9Ab0Cd1Ef2Gh3Jk4Lm5Np6Qr7St8Uv9Wx0Yz1",
    "slack-token": "xoxb-2948573610-4829103746-Kd8sLq2Wm5Xn9Bv3Tz7Rp1Hy",
    "stripe-key": "sk_live_51HqT7pLk2Wd9Xm4Rb8Vn3Cs6",
    "jwt": ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkZXBsb3ktYm90Iiwicm9sZSI6ImFkbWluIn0."
            "Qm9vdHN0cmFwU2lnbmF0dXJlVmFsdWUxMjM0NQ"),
    "generic-api-key": "c0ffee7e1d2b4a9f83e6d5c4b3a29180f7e6",
    "yaml-password": "Corr3ct-Horse-Battery",
    "env-password": "S3cr3tPassw0rd_deploy",
    "java-password": "Pr0d!Passw0rd#2024",
    "postgres-password": "Tr0ub4dorAndThree",
    "mongo-password": "M0ng0Adm1nPwd",
    # forms that rules v2 let through whole (issue 14)
    "docker-env-secret": "Zq9Lm4Xt7Rb2Wn8Kc5Vh1Jp6Ds3Fg0Ya4Tu8Ei2O",
    "docker-env-password": "Gl4cier-Runw4y-Pebble",
    "docker-arg-token": "sntrys_7Hq2Lw9Xc4Vb8Nm3Kj6Tp1Rd5",
    "notebook-api-key": "a91f3c7e5d2b48f06e1c9a7d3b5f2e84",
    "notebook-password": "Qu4rtz&Lantern#77",
    "json-escaped-password": "V3lvet-Orchard-Ridge",
    "k8s-tls-key": _body(TLS_KEY_B64),
    "kubeconfig-client-key": _body(CLIENT_KEY_B64),
    "python-pem-b64": _body(ACQUIRER_PEM_B64),
    "der-key-b64": SIGNING_KEY_DER_B64,
}

FILES: dict[str, str] = {
    "config/settings.py": f'''"""Production settings for the billing service."""

AWS_ACCESS_KEY_ID = "{SECRETS["aws-access-key"]}"
AWS_SECRET_ACCESS_KEY = "{SECRETS["aws-secret"]}"
STRIPE_API_KEY = "{SECRETS["stripe-key"]}"
ANALYTICS_API_KEY = "{SECRETS["generic-api-key"]}"
DATABASE_URL = "postgres://billing:{SECRETS["postgres-password"]}@db.internal:5432/billing"


def stripe_client():
    """Build the Stripe client used to charge cards."""
    import stripe

    stripe.api_key = STRIPE_API_KEY
    return stripe
''',
    "deploy/app.yaml": f"""# Deployment of the billing service
database:
  host: db.internal
  user: billing
  password: {SECRETS["yaml-password"]}
notifications:
  slack_token: {SECRETS["slack-token"]}
  github_token: {SECRETS["github-token"]}
""",
    "gcp/billing-sa.json": json.dumps({
        "type": "service_account", "project_id": "acme-billing",
        "private_key_id": SECRETS["gcp-private-key-id"],
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{GCP_KEY_BODY}\n-----END PRIVATE KEY-----\n",
        "client_email": "billing@acme-billing.iam.gserviceaccount.com", "maps_key": SECRETS["gcp-api-key"],
    }, indent=2) + "\n",
    "infra/azure.ts": f"""// Azure storage for invoices
export const STORAGE = "DefaultEndpointsProtocol=https;AccountName=acmeinvoices;\\
AccountKey={SECRETS["azure-storage-key"]};EndpointSuffix=core.windows.net";
export const INVOICE_SAS_URL = "https://acmeinvoices.blob.core.windows.net/pdf?sv=2022-11-02&sp=r&sig={SECRETS["azure-sas"]}";
export const clientSecret = "{SECRETS["azure-client-secret"]}";

export function invoiceUrl(id: string): string {{
  return `${{INVOICE_SAS_URL}}&id=${{id}}`;
}}
""",
    "docs/setup.md": f"""# Setting up the billing service

The deploy bot signs in with this token:

    Authorization: Bearer {SECRETS["jwt"]}

The SSH deploy key, kept here until we move it to the vault:

```
{PEM}
```

## Rotating keys

Ask the platform team.
""",
    "scripts/deploy.sh": f"""#!/bin/sh
# Deploy the billing service
export DB_PASSWORD={SECRETS["env-password"]}
GITHUB_TOKEN={SECRETS["github-pat"]}
deploy_billing() {{
  kubectl apply -f deploy/app.yaml
}}
""",
    "src/BillingConfig.java": f"""package billing;

/** Connection settings for the billing database. */
public class BillingConfig {{
    private static final String PASSWORD = "{SECRETS["java-password"]}";
    private static final String MONGO = "mongodb+srv://admin:{SECRETS["mongo-password"]}@cluster0.acme.net/billing";

    public String password() {{
        return PASSWORD;
    }}
}}
""",
    ".env": "STRIPE_API_KEY=sk_live_ThisFileIsNeverReadAtAll1234\n",
    "Dockerfile": f"""FROM python:3.12-slim
ARG SENTRY_AUTH_TOKEN={SECRETS["docker-arg-token"]}
ENV AWS_SECRET_ACCESS_KEY {SECRETS["docker-env-secret"]}
ENV DB_PASSWORD {SECRETS["docker-env-password"]}
ENV PATH /usr/local/bin:$PATH
COPY . /srv/billing
CMD ["python", "-m", "billing"]
""",
    "notebooks/usage.ipynb": json.dumps({
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Billing usage by customer\n"]},
            {"cell_type": "code", "metadata": {}, "execution_count": 1, "outputs": [], "source": [
                "import datadog\n",
                f'DATADOG_API_KEY = "{SECRETS["notebook-api-key"]}"\n',
                f'conn = connect(host="db.internal", user="analyst", password="{SECRETS["notebook-password"]}")\n',
                "usage = conn.execute('select customer, sum(amount) from charges group by 1').fetchall()\n",
            ]},
        ],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }, indent=1) + "\n",
    "config/worker.json": json.dumps({
        "name": "billing-worker",
        "env": {"SETTINGS_JSON": json.dumps({"db_password": SECRETS["json-escaped-password"], "pool": 4})},
    }, indent=2) + "\n",
    "k8s/tls-secret.yaml": f"""apiVersion: v1
kind: Secret
metadata:
  name: billing-tls
type: kubernetes.io/tls
data:
  tls.crt: {TLS_CRT_B64}
  tls.key: {TLS_KEY_B64}
""",
    "deploy/kubeconfig.yaml": f"""apiVersion: v1
kind: Config
users:
- name: billing-deployer
  user:
    client-certificate-data: {TLS_CRT_B64}
    client-key-data: {CLIENT_KEY_B64}
""",
    "billing/acquirer.py": f'''"""Keys for the card acquirer's mutual TLS."""

ACQUIRER_PEM_B64 = "{ACQUIRER_PEM_B64}"
SIGNING_KEY_DER_B64 = b"{SIGNING_KEY_DER_B64}"


def acquirer_key() -> bytes:
    """The acquirer client key, decoded."""
    import base64

    return base64.b64decode(ACQUIRER_PEM_B64)
''',
}

# Queries per secret: the value itself, its first characters, and the words around it.
NEARBY = {
    "aws-access-key": ["AWS_ACCESS_KEY_ID", "aws access key id"],
    "aws-secret": ["AWS_SECRET_ACCESS_KEY", "aws secret"],
    "gcp-private-key": ["service account private key", "BEGIN PRIVATE KEY"],
    "gcp-private-key-id": ["private_key_id"],
    "gcp-api-key": ["maps_key google api key"],
    "azure-storage-key": ["AccountKey azure storage connection string"],
    "azure-sas": ["INVOICE_SAS_URL sig"],
    "azure-client-secret": ["clientSecret"],
    "private-key": ["SSH deploy key", "RSA PRIVATE KEY"],
    "github-token": ["github_token notifications"],
    "github-pat": ["GITHUB_TOKEN deploy"],
    "slack-token": ["slack_token"],
    "stripe-key": ["STRIPE_API_KEY", "stripe api key"],
    "jwt": ["deploy bot Bearer token"],
    "generic-api-key": ["ANALYTICS_API_KEY"],
    "yaml-password": ["database password billing"],
    "env-password": ["DB_PASSWORD"],
    "java-password": ["BillingConfig PASSWORD"],
    "postgres-password": ["DATABASE_URL postgres"],
    "mongo-password": ["MONGO mongodb admin"],
    "docker-env-secret": ["Dockerfile ENV AWS_SECRET_ACCESS_KEY"],
    "docker-env-password": ["ENV DB_PASSWORD"],
    "docker-arg-token": ["ARG SENTRY_AUTH_TOKEN"],
    "notebook-api-key": ["DATADOG_API_KEY notebook"],
    "notebook-password": ["connect analyst password"],
    "json-escaped-password": ["SETTINGS_JSON db_password worker"],
    "k8s-tls-key": ["tls.key kubernetes secret billing-tls"],
    "kubeconfig-client-key": ["client-key-data kubeconfig"],
    "python-pem-b64": ["ACQUIRER_PEM_B64"],
    "der-key-b64": ["SIGNING_KEY_DER_B64 acquirer"],
}


def _fragments(secret: str, size: int = 10) -> set[str]:
    """Every `size`-character piece of the secret's distinctive part: finding one is a leak."""
    body = secret.split("_", 2)[-1] if secret.startswith(("ghp_", "github_pat_", "sk_live_")) else secret
    return {body[i : i + size] for i in range(0, max(len(body) - size, 0) + 1)}


def _leaks(text: str) -> list[str]:
    return [kind for kind, secret in SECRETS.items() if any(f in text for f in _fragments(secret))]


@pytest.fixture(scope="module")
def vault(tmp_path_factory, embedder):
    tmp = tmp_path_factory.mktemp("secrets")
    repo = make_repo(tmp / "vault", FILES)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAYONE_HOME", str(tmp / "home"))
        mp.delenv("DAYONE_CONFIG", raising=False)
        mp.delenv("DAYONE_QDRANT_URL", raising=False)
        mp.chdir(tmp)
        settings = load_settings()
        result = Indexer(settings, embedder=embedder).run([RepoConfig(name="vault", path=str(repo))])
        assert not result.failed
        yield settings, result, repo


def test_planted_secrets_are_found_and_files_of_secrets_skipped(vault):
    settings, result, _ = vault
    rr = result.repos[0]
    assert rr.skipped["secret"] == 1  # .env is never read
    kinds = set(rr.redacted)
    assert {"aws-access-key", "secret", "private-key", "gcp-private-key-id", "gcp-api-key", "azure-storage-key",
            "azure-sas-signature", "azure-client-secret", "github-token", "slack-token", "stripe-key", "jwt",
            "password"} <= kinds, kinds
    assert IndexDir(settings.index_dir).current() is not None


def test_no_stored_payload_manifest_row_or_index_byte_holds_a_secret(vault):
    settings, _, repo = vault
    with IndexReader(settings) as reader:
        hits = reader.store.retrieve(list(reader.manifest.all_chunk_ids()))
        payload_text = "\n".join(json.dumps(h.payload, ensure_ascii=False) for h in hits)
        manifest_path = reader.generation.manifest_path
    assert hits
    assert _leaks(payload_text) == []
    for marker in ("[REDACTED:aws-access-key]", "[REDACTED:private-key]", "[REDACTED:password]",
                   "[REDACTED:jwt]", "[REDACTED:azure-storage-key]", "[REDACTED:stripe-key]"):
        assert marker in payload_text
    # The manifest and symbol table, every table and row.
    dump = "\n".join(sqlite3.connect(manifest_path).iterdump())
    assert "BillingConfig" in dump and _leaks(dump) == []
    # Every byte under the index folder (shard segments, payload storage, WAL, manifest).
    for f in settings.index_dir.rglob("*"):
        if f.is_file():
            raw = f.read_bytes().replace(b"\0", b"").decode("latin-1")  # mapped files are mostly zeros
            assert _leaks(raw) == [], f
    # Line numbers still point at the real file: redaction keeps the line count.
    for h in hits:
        lines = (repo / h.payload["path"]).read_text().splitlines()
        assert 1 <= h.payload["start_line"] <= h.payload["end_line"] <= len(lines)


def test_no_query_retrieves_a_secret(vault):
    queries = []
    for kind, secret in SECRETS.items():
        queries += [secret, secret[:8], secret[:16], *NEARBY[kind]]
    for q in queries:
        result = runner.invoke(app, ["search", "--json", "-k", "20", "--", q])
        assert result.exit_code == 0, result.output
        hits = json.loads(result.stdout)["hits"]
        assert _leaks(json.dumps(hits)) == [], q
    # the surrounding words do find the places the secrets were: only the values are gone
    result = runner.invoke(app, ["search", "--json", "AWS_SECRET_ACCESS_KEY"])
    hits = json.loads(result.stdout)["hits"]
    assert any(h["path"] == "config/settings.py" and "[REDACTED:secret]" in h["text"] for h in hits)


def test_removing_the_redaction_is_caught(tmp_path, home, embedder, monkeypatch):
    repo = make_repo(tmp_path / "r", {"config/settings.py": FILES["config/settings.py"]})
    monkeypatch.setattr(pipeline, "redact_file", lambda path, data, language: (data, {}))
    settings = load_settings()
    Indexer(settings, embedder=embedder).run([RepoConfig(name="r", path=str(repo))])
    with IndexReader(settings) as reader:
        texts = json.dumps([h.payload for h in reader.store.retrieve(list(reader.manifest.all_chunk_ids()))])
    assert "aws-access-key" in _leaks(texts)


def test_changing_the_rules_rebuilds_old_indexes(tmp_path, home, embedder, monkeypatch):
    repo = make_repo(tmp_path / "r", {"a.py": "def alpha():\n    return 1\n"})
    settings = load_settings()
    cfg = RepoConfig(name="r", path=str(repo))
    Indexer(settings, embedder=embedder).run([cfg])
    monkeypatch.setattr(pipeline, "REDACTION_VERSION", "next")
    rebuilt = Indexer(settings, embedder=embedder).run([cfg])
    assert rebuilt.full_rebuild_reason and "secret redaction rules changed" in rebuilt.full_rebuild_reason
    assert rebuilt.chunks_embedded > 0


@pytest.fixture
def llm(monkeypatch):
    from tests.app.answer.test_chat_model import llm_env

    for key, value in llm_env().items():
        monkeypatch.setenv(key, value)


def test_answers_and_their_sources_never_show_a_secret(vault, llm, monkeypatch):
    monkeypatch.setenv("DAYONE_LLM__MAX_ANSWER_TOKENS", "96")
    for question in ("What is the AWS secret access key in config/settings.py?",
                     "What password does the billing database use?"):
        result = runner.invoke(app, ["ask", "--json", question])
        assert result.exit_code == 0, result.output
        payload = json.loads(result.stdout)
        assert _leaks(result.stdout) == [], payload["answer"]
        assert payload["citations"]  # the places are cited; the values are not there to repeat


# -- the detector itself ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "kind"), [
    ('key = "AKIAIOSFODNN7EXAMPLX"', "aws-access-key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", "private-key"),
    ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkg4LVWM9nuwNSk3yBWR\n", "private-key"),  # cut off, no END
    ('"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQIB\\n-----END PRIVATE KEY-----\\n"', "private-key"),
    ("url = 'https://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/abcdefghijklmnopqrstuvwx'", "slack-webhook"),
    ("NPM_TOKEN=npm_abcdefghijklmnopqrstuvwxyz0123456789", "npm-token"),
    ('OPENAI_API_KEY = "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c"', "openai-key"),
    ("token: glpat-Xy9Zab3Cd7Ef1Gh5Ij2K", "gitlab-token"),
    ("redis://:Sup3rS3cret@cache:6379/0", "password"),
    ("<password>hunter2hunter2</password>", "password"),
    ('{"client_secret": "Zx81kLm2Qp0vNw7Rt4Ys"}', "secret"),
    ("spring.datasource.password=Wint3r2024!", "password"),
])
def test_detects_each_kind(text, kind):
    out = redact(text)
    assert out.found[kind] >= 1, out
    assert f"[REDACTED:{kind}]" in out.text
    assert out.text.count("\n") == text.count("\n")


@pytest.mark.parametrize("text", [
    "def login(password: str) -> bool:\n    return check(password)",
    "password = request.form['password']",
    "if user.password == hashed:\n    pass",
    "token = self._next_token()",
    'API_KEY = os.environ["API_KEY"]',
    'password: "${DB_PASSWORD}"',
    "db_url = 'postgres://user:password@localhost/db'",
    'label = {"password": "Enter your password"}',
    "MAX_TOKENS = 256",
    'cache_key = "user_profile_v2"',
    "The password: see the vault.",
])
def test_leaves_ordinary_code_alone(text):
    language = "markdown" if text.startswith("The ") else "python"
    data, found = redact_file("x", text.encode(), language)
    assert not found and data == text.encode(), data


@pytest.mark.parametrize(("path", "language", "text", "secret"), [
    # A YAML or INI value runs to the end of its line: redacting its first word left the rest of a passphrase.
    ("deploy/app.yaml", "yaml", "db:\n  password: correct horse battery staple\n", "horse battery staple"),
    ("conf/db.ini", "text", "[db]\npassword = s3cr3t pass phrase ; the production one\n", "pass phrase"),
    ("config/prod.json", "json", '{"db_password": "correct horse battery staple"}\n', "horse battery"),
    (".env", "text", "DB_PASSWORD=hunter2-prod # rotated monthly\n", "hunter2"),
])
def test_a_whole_config_passphrase_is_redacted(path, language, text, secret):
    out, found = redact_file(path, text.encode(), language)
    assert found["password"] == 1 and secret not in out.decode()
    assert out.decode().count("\n") == text.count("\n")
    if "#" in text or ";" in text.split("=", 1)[-1]:
        assert ("# rotated monthly" in out.decode()) or ("; the production one" in out.decode())  # comment kept


@pytest.mark.parametrize(("path", "language", "text"), [
    # Translation catalogues hold the word for "password", and config keys can hold the words around the field.
    ("src/locales/de.json", "json", '{"password": "Passwort", "password_hint": "Mindestens 8 Zeichen"}\n'),
    ("i18n/fr.yaml", "yaml", "password: Mot de passe\nforgot_password: Mot de passe oublié ?\n"),
    ("app/messages_es.properties", "text", "password=Contraseña\n"),
    ("config/ui.yaml", "yaml", "password_prompt: Enter your password\npassword_help: At least 12 characters\n"),
    ("deploy/app.yaml", "yaml", "db: {password_label: Password, user: bob}\n"),
])
def test_password_words_in_translations_and_labels_stay(path, language, text):
    out, found = redact_file(path, text.encode(), language)
    assert not found and out.decode() == text


def test_yaml_flow_style_redacts_only_the_value():
    out, found = redact_file("deploy/app.yaml", b"db: {password: hunter2-prod, user: billing}\n", "yaml")
    assert found["password"] == 1 and out.decode() == "db: {password: [REDACTED:password], user: billing}\n"


# -- forms rules v2 missed (issue 14): each case leaked whole before REDACTION_VERSION 3 -----------------------

def _wrapped(b64: str, width: int, indent: str, quote: str = "") -> str:
    return "\n".join(f"{indent}{quote}{b64[i : i + width]}{quote}" for i in range(0, len(b64), width))


_HMAC_B64 = base64.b64encode(_RNG.randbytes(32)).decode()
_NEW_FORMS = [
    # (path, language, text, kind, what must not survive)
    ("Dockerfile", "dockerfile", f"ENV AWS_SECRET_ACCESS_KEY {SECRETS['docker-env-secret']}\n", "secret",
     SECRETS["docker-env-secret"]),
    ("Dockerfile", "dockerfile", "FROM alpine\nENV DB_PASSWORD correct horse battery staple\n", "password",
     "horse battery staple"),
    ("build/Containerfile", "dockerfile", f'ENV GITHUB_API_TOKEN "{SECRETS["docker-env-secret"]}"\n', "secret",
     SECRETS["docker-env-secret"]),
    ("Dockerfile", "dockerfile", f"ARG NPM_AUTH_TOKEN {SECRETS['docker-env-secret']}\n", "secret",
     SECRETS["docker-env-secret"]),
    ("notebooks/a.ipynb", "json", FILES["notebooks/usage.ipynb"], "secret", SECRETS["notebook-api-key"]),
    ("notebooks/a.ipynb", "json", FILES["notebooks/usage.ipynb"], "password", SECRETS["notebook-password"]),
    ("config/worker.json", "json", FILES["config/worker.json"], "password", SECRETS["json-escaped-password"]),
    # JSON in a JSON string in a JSON string: the quotes are escaped twice (\\\")
    ("config/nested.json", "json", json.dumps({"a": json.dumps({"b": json.dumps({"api_key": _HMAC_B64})})}),
     "secret", _HMAC_B64),
    # Python source that builds JSON by hand
    ("app/client.py", "python", f'BODY = "{{\\"client_secret\\": \\"{_HMAC_B64}\\"}}"\n', "secret", _HMAC_B64),
    ("k8s/tls-secret.yaml", "yaml", FILES["k8s/tls-secret.yaml"], "private-key", _body(TLS_KEY_B64)),
    ("deploy/kubeconfig", None, FILES["deploy/kubeconfig.yaml"], "private-key", _body(CLIENT_KEY_B64)),
    ("billing/acquirer.py", "python", FILES["billing/acquirer.py"], "private-key", _body(ACQUIRER_PEM_B64)),
    ("billing/acquirer.py", "python", FILES["billing/acquirer.py"], "private-key", SIGNING_KEY_DER_B64),
    # base64 of a PEM key under a name that says nothing, in JSON with \n escapes between wrapped lines
    ("config/mtls.json", "json", json.dumps({"blob": "\n".join(_wrapped(TLS_KEY_B64, 76, "").split("\n"))}),
     "private-key", _body(TLS_KEY_B64)),
    # wrapped over lines: a YAML block scalar and a Python string split across lines
    ("helm/values.yaml", "yaml", f"tls:\n  cert: x\n  key: |\n{_wrapped(TLS_KEY_B64, 64, '    ')}\nnext: 1\n",
     "private-key", _body(TLS_KEY_B64)),
    ("certs.py", "python", f"CLIENT = (\n{_wrapped(ACQUIRER_PEM_B64, 72, '    ', chr(34))}\n)\n", "private-key",
     _body(ACQUIRER_PEM_B64)),
    # a raw 32-byte key in base64 under key-like names no v2 rule knew
    ("k8s/secret.yaml", "yaml", f"data:\n  encryption.key: {_HMAC_B64}\n", "encoded-key", _HMAC_B64),
    ("src/sign.ts", "typescript", f'export const hmacKey = "{_HMAC_B64}";\n', "encoded-key", _HMAC_B64),
    ("conf/app.toml", "toml", f'[session]\nkey = "{_HMAC_B64}"\n', "encoded-key", _HMAC_B64),
]


@pytest.mark.parametrize(("path", "language", "text", "kind", "secret"), _NEW_FORMS,
                         ids=[f"{c[0]}-{c[3]}-{i}" for i, c in enumerate(_NEW_FORMS)])
def test_detects_forms_rules_v2_missed(path, language, text, kind, secret):
    out, found = redact_file(path, text.encode(), language)
    redacted = out.decode()
    assert found[kind] >= 1, (found, redacted)
    assert not any(f in redacted for f in _fragments(secret)), redacted
    assert redacted.count("\n") == text.count("\n")
    again, more = redact_file(path, out, language)
    assert not more and again == out  # a second pass finds nothing left


def test_a_wrapped_key_keeps_its_surroundings():
    text = f"tls:\n  key: |\n{_wrapped(TLS_KEY_B64, 64, '    ')}\nnext: 1\n"
    out, found = redact_file("helm/values.yaml", text.encode(), "yaml")
    lines = out.decode().split("\n")
    assert found == {"private-key": 1}
    assert lines[:3] == ["tls:", "  key: |", "    [REDACTED:private-key]"]
    assert set(lines[3:-2]) == {"    "} and lines[-2:] == ["next: 1", ""]


_PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + _RNG.randbytes(120)).decode()
_RANDOM_FIXTURE_B64 = base64.b64encode(_RNG.randbytes(96)).decode()
_SHA256_B64 = base64.b64encode(_RNG.randbytes(32)).decode()


@pytest.mark.parametrize(("path", "language", "text"), [
    # certificates and public keys are not secret, in any encoding
    ("k8s/ca.yaml", "yaml", f"data:\n  tls.crt: {TLS_CRT_B64}\n  ca.crt: {TLS_CRT_B64}\n"),
    ("deploy/kubeconfig", None, f"clusters:\n- cluster:\n    certificate-authority-data: {TLS_CRT_B64}\n"),
    ("auth.yaml", "yaml", "ssh_key: AAAAB3NzaC1yc2EAAAADAQABAAABAQC7vbqajDhA3ZpXkDVO7t2XJeZfmBWEUSHPd6kRpz9v\n"),
    # base64 under names that do not say key/secret/token/password: fixtures, digests, assets
    ("tests/test_codec.py", "python", f'EXPECTED = "{_RANDOM_FIXTURE_B64}"\nDIGEST = "{_SHA256_B64}"\n'),
    ("tests/test_codec.py", "python", f'SAMPLE_B64 = "{_RANDOM_FIXTURE_B64}"\nICON_B64 = "{_PNG_B64}"\n'),
    ("package.json", "json", json.dumps({"integrity": f"sha512-{_RANDOM_FIXTURE_B64}", "sha256": _SHA256_B64})),
    ("ui/icons.ts", "typescript", f'const logoPem = "data:image/png;base64,{_PNG_B64}";\n'),
    # key-named values that do not decode to a key: text, pictures, hex digests, identifiers
    ("app.yaml", "yaml", "key: " + base64.b64encode(b"this is only some text, nothing secret").decode() + "\n"),
    ("theme.py", "python", f'ICON_KEY = "{_PNG_B64}"\n'),
    ("cache.py", "python", 'cache_key = "d41d8cd98f00b204e9800998ecf8427e9f0a1b2c3d4e5f60"\n'),
    ("model.py", "python", 'primary_key = "customerAccountIdentifierColumnName"\nsort_key = "createdAt2024Index"\n'),
    # Babel's class output: method names under `key` decode (as base64) to random-looking bytes
    ("assets/cytoscape.esm.js", "javascript",
     '{key:`_copyTextureToNewAtlas`,value:function(e,t){}},{key:"_defaultCompareFunction",value:function(e,t){}}\n'),
    # Dockerfiles: settings that are not secrets, and build arguments without a value
    ("Dockerfile", "dockerfile", "ENV PATH /usr/local/bin:$PATH\nENV TOKEN_URL https://auth.example.com/token\n"
                                 "ARG GITHUB_TOKEN\nENV API_KEY ${API_KEY}\nENV PASSWORD_MIN_LENGTH 12\n"),
    # notebooks: code that reads a password is not one
    ("n.ipynb", "json", json.dumps({"source": ['password = getpass()\n', 'api_key = os.environ["API_KEY"]\n',
                                               'print(f"token: {token}")\n', 'password = ""\n']})),
])
def test_encoded_and_escaped_look_alikes_stay(path, language, text):
    out, found = redact_file(path, text.encode(), language)
    assert not found and out.decode() == text, out.decode()


def test_a_long_word_under_a_secret_key_does_not_hang_the_redactor():
    """Rules v2 backtracked exponentially over a long run of letters that did not end the value (2^n tries:
    12 s for 23 letters, minutes for 26); one such line in a repository stalled the whole index run."""
    import subprocess
    import sys

    code = ("from indexer.sources.redaction import redact; "
            "print(redact('client_secret: \"' + 'abcdefghij' * 4 + '!\"\\ntoken = \"' + 'x' * 40 + '+\"').found)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "Counter()", done.stderr
