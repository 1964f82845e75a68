"""Answer speed of a GGUF through dayone's own model code: first token, prompt and generation tokens/s, memory.

For each model, in a fresh process: load it the way dayone does (`LlamaCppModel`, every layer on the GPU when
the build has CUDA), warm up once, then for each prompt size ask one question whose prompt is filled with this
repository's source code to about that many tokens, and stream the answer. Timing goes through
bench_answer.py's `drain` (the clock starts before the model is asked) and llama.cpp's own counters
(prompt tokens and time, generated tokens and time), which count tokens even where a random model's pieces are
empty.

    python benchmarks/gpu/answer_speed.py MODEL.gguf [MODEL2.gguf ...] --prompts 1024 4096 [--label NAME ...]

Results: one JSON line per measurement plus a markdown table, in $OUT when it is set (the GPU machine), else
in --out (default artifacts/answer-speed). Memory: peak RSS always; on a GPU, the process's memory as
nvidia-smi reports it, and the buffers llama.cpp says it allocated (model, KV cache, compute).
Random-weight models (random_gguf.py) give speed figures only: say so wherever they are shown.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_answer import drain  # noqa: E402  (the timing core bench_answer.py uses)

QUESTION = "Which function in this code decides whether a model file is complete, and what does it check?"
SOURCES = ["app", "indexer", "benchmarks", "docs"]


def model_class():
    """dayone's llama.cpp ChatModel: the one place this script names dayone's module (issue 11 moves it)."""
    from app.answer.chat_model import LlamaCppModel

    return LlamaCppModel


def corpus() -> str:
    """This repository's own code and docs, in a fixed order, as filler for the prompt."""
    parts = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix in (".py", ".md") and path.is_file():
                parts.append(f"# file: {path.relative_to(ROOT)}\n{path.read_text(errors='replace')}")
    return "\n\n".join(parts)


def fill_messages(chat, target: int, text: str) -> list[dict[str, str]]:
    """System + user messages whose prompt is about `target` tokens (the chat template's markers included)."""
    def messages(n_chars: int) -> list[dict[str, str]]:
        return [{"role": "system", "content": "You answer questions about the code below. Cite file paths."},
                {"role": "user", "content": f"{text[:n_chars]}\n\nQuestion: {QUESTION}"}]

    lo, hi = 0, min(len(text), target * 8)  # code runs 3-4 characters per token: 8 is ample, and cheap to count
    if chat.count_messages(messages(hi)) < target:
        hi = len(text)
        if chat.count_messages(messages(hi)) < target:
            raise SystemExit(f"the corpus holds fewer than {target} tokens; add sources")
    while hi - lo > 64:  # characters: a few tokens of slack
        mid = (lo + hi) // 2
        if chat.count_messages(messages(mid)) <= target:
            lo = mid
        else:
            hi = mid
    return messages(lo)


class StderrCapture:
    """Copy what C code writes to fd 2 into a file (llama.cpp's load log lists its buffers' sizes)."""

    def __enter__(self):
        self.file = tempfile.TemporaryFile(mode="w+b")
        sys.stderr.flush()
        self.saved = os.dup(2)
        os.dup2(self.file.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.file.seek(0)
        self.text = self.file.read().decode("utf-8", "replace")
        self.file.close()


def llama_buffers(log: str) -> dict[str, float]:
    """'CUDA0 model buffer size = 4168.09 MiB' and the like, summed per kind and device."""
    found: dict[str, float] = {}
    for dev, kind, mib in re.findall(r"(\S+)\s+(model|KV|compute|RS|output)\s+buffer size\s*=\s*([\d.]+) MiB", log):
        key = f"{dev.strip(':')} {kind}"
        found[key] = round(found.get(key, 0.0) + float(mib), 1)
    return found


def gpu_memory_mb() -> dict[str, int] | None:
    """This process's GPU memory and the card's used total, per nvidia-smi (None without one)."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        apps = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=20).stdout
        total = subprocess.run(["nvidia-smi", "--query-gpu=memory.used,memory.total", "--format=csv,noheader,nounits"],
                               capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    mine = [int(mb) for pid, mb in (line.split(",") for line in apps.splitlines() if "," in line)
            if pid.strip() == str(os.getpid())]
    used, card = (int(x) for x in total.splitlines()[0].split(","))
    return {"process_mb": mine[0] if mine else None, "card_used_mb": used, "card_total_mb": card}


def perf(chat):
    import llama_cpp

    return llama_cpp.llama_perf_context(chat._llm.ctx)  # llama.cpp's own counters for this context


def reset_perf(chat) -> None:
    import llama_cpp

    llama_cpp.llama_perf_context_reset(chat._llm.ctx)


def run_model(path: Path, label: str, prompts: list[int], max_tokens: int, threads: int, repeats: int,
              llama_kwargs: dict) -> list[dict]:
    LlamaCppModel = model_class()
    if llama_kwargs:  # llama.cpp options dayone does not set (e.g. flash_attn): passed through, for comparison
        import llama_cpp

        plain = llama_cpp.Llama

        class Tuned(plain):
            def __init__(self, *a, **kw):
                super().__init__(*a, **{**kw, **llama_kwargs})

        llama_cpp.Llama = Tuned
    n_ctx = max(prompts) + max_tokens + 256
    before = gpu_memory_mb()
    started = time.perf_counter()
    with StderrCapture() as cap:
        chat = LlamaCppModel(path, n_ctx=n_ctx, n_threads=threads, verbose=True)
    load_s = time.perf_counter() - started
    text = corpus()
    base = {"model": label, "file": path.name, "file_mb": round(path.stat().st_size / 1e6), "gpu": chat.gpu,
            "n_gpu_layers": chat.n_gpu_layers, "threads": chat.n_threads, "n_ctx": chat.context_size,
            "load_s": round(load_s, 2), "llama_kwargs": llama_kwargs or None,
            "flash_attn_type": int(chat._llm.context_params.flash_attn_type), "n_batch": chat._llm.n_batch,
            "buffers_mib": llama_buffers(cap.text)}
    warm = fill_messages(chat, 128, text)
    drain(chat.stream(warm, 8))  # first use compiles/loads kernels; not part of any figure
    rows = []
    for target in prompts:
        messages = fill_messages(chat, target, text)
        for rep in range(repeats):
            reset_perf(chat)
            first, answer = drain(chat.stream(messages, max_tokens, 0.0))
            p, stats = perf(chat), chat.last_stats
            row = {**base, "prompt_target": target, "repeat": rep, "prompt_tokens": p.n_p_eval,
                   "first_token_s": round(first or float("nan"), 3),
                   "prompt_tok_s": round(p.n_p_eval / (p.t_p_eval_ms / 1000), 1) if p.t_p_eval_ms else None,
                   "generated_tokens": p.n_eval,
                   "gen_tok_s": round(p.n_eval / (p.t_eval_ms / 1000), 1) if p.t_eval_ms else None,
                   "chatmodel_tok_s": round(stats.tokens_per_s, 1), "finish_reason": stats.finish_reason,
                   "answer_start": answer[:80], "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                                     / 1024)}
            now = gpu_memory_mb()
            if now is not None:
                row["gpu_mem"] = {**now, "card_used_before_load_mb": before["card_used_mb"] if before else None}
            rows.append(row)
            print(json.dumps(row), flush=True)
    chat.close()
    return rows


def markdown(rows: list[dict], machine: str) -> str:
    lines = [f"Machine: {machine}", "",
             "| model | prompt tokens | first token s | prompt tok/s | gen tok/s | generated | memory | load s |",
             "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |"]
    for r in rows:
        mem = f"RSS {r['peak_rss_mb']} MB"
        if r.get("gpu_mem") and r["gpu_mem"].get("process_mb"):
            mem = f"GPU {r['gpu_mem']['process_mb']} MiB (process), " + mem
        elif r.get("gpu_mem"):
            mem = f"GPU {r['gpu_mem']['card_used_mb'] - (r['gpu_mem']['card_used_before_load_mb'] or 0)} MiB " \
                  f"(card delta), " + mem
        lines.append(f"| {r['model']} | {r['prompt_tokens']} | {r['first_token_s']} | {r['prompt_tok_s']} | "
                     f"{r['gen_tok_s']} | {r['generated_tokens']} | {mem} | {r['load_s']} |")
    return "\n".join(lines) + "\n"


def machine_line() -> str:
    gpu = ""
    if shutil.which("nvidia-smi"):
        gpu = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True).stdout.strip()
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} CPU cores (load {load:.1f}){', GPU ' + gpu if gpu else ', no GPU'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--label", nargs="*", default=[], help="a name per model for the tables")
    parser.add_argument("--prompts", nargs="+", type=int, default=[1024, 4096])
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: dayone's default)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--llama-kwargs", default="", help='extra llama_cpp.Llama options, JSON, e.g. '
                                                         '\'{"flash_attn": true}\'')
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "answer-speed")
    parser.add_argument("--name", default="answer-speed", help="base name of the result files")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    kwargs = json.loads(args.llama_kwargs) if args.llama_kwargs else {}
    labels = args.label + [m.stem for m in args.models[len(args.label):]]
    if args.child:
        run_model(args.models[0], labels[0], args.prompts, args.max_tokens, args.threads, args.repeats, kwargs)
        return
    for m in args.models:
        if not m.is_file():
            sys.exit(f"no such model file: {m}")
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else args.out
    out.mkdir(parents=True, exist_ok=True)
    machine = machine_line()
    for model, label in zip(args.models, labels, strict=True):
        cmd = [sys.executable, __file__, str(model), "--child", "--label", label, "--prompts",
               *map(str, args.prompts), "--max-tokens", str(args.max_tokens), "--threads", str(args.threads),
               "--repeats", str(args.repeats), "--llama-kwargs", args.llama_kwargs]
        proc = subprocess.run(cmd, capture_output=True, text=True)  # a fresh process: its peak RSS is this model's
        got = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        for row in got:
            print(f"{row['model']}: {row['prompt_tokens']} prompt tokens, first token {row['first_token_s']} s, "
                  f"prompt {row['prompt_tok_s']} tok/s, generation {row['gen_tok_s']} tok/s "
                  f"({row['generated_tokens']} tokens), buffers {row['buffers_mib']}", flush=True)
        if proc.returncode:
            print(f"{label}: failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}", flush=True)
        jsonl = out / f"{args.name}.jsonl"
        with open(jsonl, "a") as fh:  # appends: a driver may call this once per model
            fh.writelines(json.dumps(r) + "\n" for r in got)
        rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
        (out / f"{args.name}.md").write_text(markdown(rows, machine))
    print(f"results: {out / (args.name + '.jsonl')}, {out / (args.name + '.md')}")


if __name__ == "__main__":
    main()
