"""`dayone eval`: retrieval measured on pinned real codebases against the baselines a user would use instead."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from app.doors.cli.common import USER_ERRORS, ConfigOpt, app, err, fail, out, settings_from


@app.command(name="eval")
def eval_retrieval(
    repo: Annotated[list[str] | None, typer.Option("--repo", help="only this pinned repository (repeatable)")] = None,
    baselines: Annotated[bool, typer.Option(help="also run BM25 over files and plain llama-index")] = True,
    llama_index: Annotated[bool, typer.Option("--llama-index/--no-llama-index", help="with the baselines, also "
                                              "plain llama-index (it embeds every corpus once: minutes)")] = True,
    ablation: Annotated[bool, typer.Option(help="also rank with each signal switched off")] = False,
    rerank: Annotated[bool, typer.Option("--rerank", help="also a row with the answering model's rerank of the "
                                         "top search.rerank_files files (seconds per question on a CPU)")] = False,
    questions: Annotated[Path | None, typer.Option("--questions", help="folder with sources.json and "
                                                   "*.jsonl (default: the repository's eval/)")] = None,
    realistic: Annotated[bool, typer.Option("--realistic", help="the realistic eval: real commit texts asked "
                                            "against snapshots of git histories (eval/realistic/)")] = False,
    split: Annotated[str, typer.Option("--split", help="realistic eval and --answers: heldout (the figures to "
                                       "report), dev or all")] = "heldout",
    bundles: Annotated[Path | None, typer.Option("--bundles", help="realistic eval: folder with the git "
                                                 "bundles (default: ../shared/histories)")] = None,
    show_misses: Annotated[bool, typer.Option("--misses", help="list the questions each system misses at 5")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the rows as JSON")] = False,
    answers: Annotated[bool, typer.Option("--answers", help="measure answers (eval/answers/) instead of "
                                          "retrieval")] = False,
    systems: Annotated[str, typer.Option(
        "--systems", help="with --answers: comma-separated, of sources, map (the reading map alone), dayone, "
        "llama-index")] = "sources,map,dayone,llama-index",
    limit: Annotated[int, typer.Option("--limit", help="with --answers: only the first N questions")] = 0,
    config: ConfigOpt = None,
) -> None:
    """Measure retrieval on pinned real codebases against BM25 and llama-index; prints the table.

    With --answers, measure answers against plain llama-index RAG and sources without a model. With --realistic,
    `--repo` names snapshots (koa-d0f85438) or whole projects (koa)."""
    from app.answer.chat_model import ModelError
    from app.answer.modelfiles import ModelFileError
    from app.evaluation import realistic as rl
    from app.evaluation import retrieval_eval as ev

    def log(text: str) -> None:
        err.print(text, highlight=False, markup=False)

    if answers:
        _eval_answers(config, repo, systems, split, limit, as_json, log)
        return

    try:
        settings = settings_from(config)
        realistic = realistic or (questions is not None and (questions / "questions.jsonl").is_file())
        if not realistic and (split != "heldout" or bundles is not None):
            raise ev.EvalError("--split and --bundles apply to the realistic eval (or --answers): add --realistic")
        if realistic:
            qs, roots, spans = rl.prepare_realistic(settings, questions or rl.REALISTIC_DIR, split=split,
                                                    repos=repo, bundles=bundles, log=log)
        else:
            qs, roots, spans = ev.prepare(settings, questions or ev.EVAL_DIR, repo, log)
        results = [ev.run_ours(settings, qs, spans)]
        if ablation:
            for name, options in ev._ablations().items():
                results.append(ev.run_ours(settings, qs, spans, name=name, ranking_options=options))
        if rerank:
            results.append(rl.run_reranked(settings, qs, spans, log))
        if baselines:
            corpora = {r: ev.indexed_files(settings, r, roots[r]) for r in sorted({q.repo for q in qs})}
            results.append(ev.run_bm25(qs, spans, corpora))
            if llama_index:
                results.append(ev.run_llamaindex(settings, qs, spans, corpora, log))
    except (*USER_ERRORS, ev.EvalError, ModelError, ModelFileError) as exc:
        raise fail(str(exc)) from None
    rows = ev.table(results, qs)
    if as_json:
        sys.stdout.write(json.dumps([dict(zip(ev.HEADER, r, strict=True)) for r in rows]) + "\n")
    else:
        out.print(ev.format_table(rows), highlight=False, markup=False)
    if show_misses:
        for res in results:
            err.print(f"{res.name} misses at 5: {' '.join(ev.misses(res, qs)) or '-'}", highlight=False)


def _eval_answers(config: Path | None, repo: list[str] | None, systems: str, split: str, limit: int,
                  as_json: bool, log: Callable[[str], None]) -> None:
    from app.answer.chat_model import ModelError
    from app.answer.modelfiles import ModelFileError
    from app.evaluation import answers as ans
    from app.evaluation.retrieval_eval import EvalError

    if split not in ("heldout", "dev", "all"):
        raise fail(f"--split must be heldout, dev or all, not {split!r}")
    try:
        settings = settings_from(config)
        runs = ans.run(settings, [s.strip() for s in systems.split(",") if s.strip()], repos=repo, split=split,
                       limit=limit, log=log)
    except (*USER_ERRORS, EvalError, ModelError, ModelFileError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps({r.name: [s.to_json() for s in r.scores] for r in runs}) + "\n")
    else:
        out.print(ans.format_table(runs), highlight=False, markup=False)
