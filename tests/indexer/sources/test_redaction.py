"""Secrets inside ordinary files never reach the index: not the stored text, the vectors, the manifest, the
symbol table, search results or answers. Real pipeline (tree-sitter, MiniLM, qdrant-edge) on a repository with
one planted secret of every kind the redactor knows."""

from __future__ import annotations

import json
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
