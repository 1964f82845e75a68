"""`dayone tune ...`: adapt the embedder and the answering model to the company's code (docs/tuning.md).

A thin door over app/tune/: mining, training and evaluation live there; this module parses options, shows the
training bar and prints the reports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from app.doors.cli.common import USER_ERRORS, ConfigOpt, app, err, fail, out, progress_bars, settings_from
from app.tune.mining import TuneError

tune_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                       help="Adapt the embedder to your code and its history; prove it on held-out commits.")
app.add_typer(tune_app, name="tune")


def _user_errors() -> tuple[type[Exception], ...]:
    from app.evaluation.retrieval_eval import EvalError

    return (*USER_ERRORS, TuneError, EvalError)


class _TrainingBar:
    """A live bar with the loss in a terminal; in logs a plain line every 5% of the steps instead."""

    def __init__(self) -> None:
        from rich.progress import TextColumn

        self.bars = progress_bars(TextColumn("loss {task.fields[loss]}"))
        self.task: int | None = None

    def __call__(self, step: int, total: int, loss: float) -> None:
        if not err.is_terminal:
            if step == 1 or step == total or step % max(1, total // 20) == 0:
                err.print(f"training step {step}/{total}, loss {loss:.3f}", highlight=False, markup=False)
            return
        if self.task is None:
            self.bars.start()
            self.task = self.bars.add_task("training", total=total, loss="-")
        self.bars.update(self.task, completed=step, loss=f"{loss:.3f}")
        if step == total:
            self.stop()

    def stop(self) -> None:
        if self.task is not None:
            self.bars.stop()


def _log(text: str) -> None:
    err.print(text, highlight=False, markup=False)


@tune_app.command()
def embedder(
    repo: Annotated[list[str] | None, typer.Option("--repo", "-r", help="repository to tune on (repeatable; "
                                                   "default: [tune] repos, else all with git history)")] = None,
    control: Annotated[list[str] | None, typer.Option("--control", help="codebase NOT tuned on, measured to show "
                                                      "the loss there (repeatable; default: [tune] control)")] = None,
    cutoff: Annotated[str | None, typer.Option("--cutoff", help="last training commit or rev (default: hold out "
                                               "the last [tune] holdout usable commits)")] = None,
    force: Annotated[bool, typer.Option("--force", help="switch to the tuned model even if it loses")] = False,
    no_switch: Annotated[bool, typer.Option("--no-switch", help="train and evaluate only")] = False,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="print the model card as JSON")] = False,
    config: ConfigOpt = None,
) -> None:
    """Mine pairs from history and code, fine-tune the embedder, and evaluate it against the base model."""
    from app.tune.ops import tune_embedder

    bar = _TrainingBar()
    try:
        report = tune_embedder(settings_from(config), repo or None, control=control, cutoff=cutoff, force=force,
                               switch=not no_switch, device=device, log=_log, progress=bar)
    except _user_errors() as exc:
        raise fail(str(exc)) from None
    finally:
        bar.stop()
    if as_json:
        sys.stdout.write(json.dumps(report.card, indent=1, default=str) + "\n")
    else:
        out.print(evaluation_table(report.card))
    for reason in report.reasons:
        err.print(reason, highlight=False, markup=False)
    if report.switched:
        err.print(f"the index now uses {report.model.name}: the next `dayone index` rebuilds with it "
                  "(`dayone tune use base` rolls back)", highlight=False, markup=False)
    elif not report.beats_base:
        err.print(f"refused: {report.model.name} does not beat the base model on held-out commits; the index keeps "
                  "its model (`dayone tune use NAME --force` switches anyway)", highlight=False, markup=False)
        raise typer.Exit(1)


def evaluation_table(card: dict) -> Table:
    table = Table(title=f"{card.get('model', '?')}: base -> tuned", title_justify="left")
    for col in ("questions", "n", "search", "file@5", "MRR@10", "sym@10"):
        table.add_column(col, justify="left" if col in ("questions", "search") else "right")
    ev = card.get("evaluation") or {}
    if "base" not in ev or "tuned" not in ev:
        return table
    for name, modes in ev["base"]["sets"].items():
        for mode, b in modes.items():
            t = ev["tuned"]["sets"][name][mode]
            cells = [f"{b[m]:.2f} -> {t[m]:.2f} ({t[m] - b[m]:+.2f})" for m in ("file@5", "mrr@10", "sym@10")]
            table.add_row(name, str(b["n"]), mode, *cells)
    return table


@tune_app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False, config: ConfigOpt = None) -> None:
    """Which embedder the index uses, and every tuned model: trained on what, when, and how it scored; and the
    answering model's LoRA adapters, with the one the llm.lora_path setting turns on."""
    from app.tune.answerer import adapters
    from app.tune.ops import active_name, tuned_models

    try:
        settings = settings_from(config)
        models = tuned_models(settings)
        active = active_name(settings)
        loras = adapters(settings)
    except _user_errors() as exc:
        raise fail(str(exc)) from None
    lora_on = settings.llm.lora_path
    if as_json:
        sys.stdout.write(json.dumps({"active": active, "models": [c for _, c in models], "lora_path": lora_on,
                                     "adapters": [c for _, c in loras]}, indent=1) + "\n")
        return
    for path, card in loras:
        on = lora_on in (path.name, str(path), str(path / "adapter.gguf"))
        tr = card.get("training", {})
        out.print(f"{'*' if on else ' '} adapter {path.name}  created {card.get('created', '?')}  on "
                  f"{', '.join(card.get('repos', []))}: {tr.get('steps', '?')} steps, loss "
                  f"{tr.get('first_loss', 0):.3f} -> {tr.get('last_loss', 0):.3f}"
                  + ("" if on else "  (off: [llm] lora_path names another or none)"),
                  highlight=False, markup=False)
    override = settings.embedding.model_path
    out.print(f"active embedder: {active}" + (f" (overridden by embedding.model_path = {override})" if override
                                             else ""), highlight=False)
    for path, card in models:
        repos = card.get("repos", {})
        trained = ", ".join(f"{n} (cut-off {r.get('cutoff', '')[:10]}, {sum(r.get('pairs', {}).values())} pairs mined)"
                            for n, r in repos.items())
        tr = card.get("train", {})
        mark = "*" if path.name == active else " "
        verdict = ("not evaluated" if "beats_base" not in card else
                   "beats base" if card["beats_base"] else "does not beat base")
        out.print(f"{mark} {path.name}  created {card.get('created', '?')}  {verdict}", highlight=False)
        out.print(f"    trained on {trained or '?'}: {tr.get('pairs', '?')} pairs used, {tr.get('seconds', '?')} s on "
                  f"{tr.get('device', '?')}", highlight=False)
        for line in card.get("verdict", []):
            out.print(f"    {line}", highlight=False)
        if card.get("evaluation"):
            out.print(evaluation_table(card))


@tune_app.command()
def use(
    name: Annotated[str, typer.Argument(help="a tuned model's folder name (see `dayone tune status`), or 'base'")],
    force: Annotated[bool, typer.Option("--force", help="switch even to a model that lost to the base")] = False,
    config: ConfigOpt = None,
) -> None:
    """Switch the index to a tuned embedder, or back to the base one ('base'); the next index run rebuilds."""
    from app.tune.ops import use_model

    try:
        settings = settings_from(config)
        use_model(settings, name, force=force)
    except _user_errors() as exc:
        raise fail(str(exc)) from None
    if settings.embedding.model_path:
        err.print(f"note: embedding.model_path = {settings.embedding.model_path} is set and wins over this choice",
                  highlight=False, markup=False)
    err.print(f"the index now uses {name}: the next `dayone index` rebuilds every repository with it",
              highlight=False, markup=False)


@tune_app.command()
def pairs(
    repo: Annotated[str, typer.Option("--repo", "-r", help="repository to mine")],
    output: Annotated[Path, typer.Option("--out", "-o", help="JSONL file to write the training pairs to")],
    cutoff: Annotated[str | None, typer.Option("--cutoff", help="last training commit or rev")] = None,
    config: ConfigOpt = None,
) -> None:
    """Write the training pairs and held-out questions mined from one repository, to read or audit them."""
    from app.tune.ops import pick_repos, repo_dir
    from app.tune.pairs import mine_repo, pair_dicts

    try:
        settings = settings_from(config)
        cfg = pick_repos(settings, [repo])[0]
        m = mine_repo(repo, repo_dir(settings, cfg), holdout=settings.tune.holdout, cutoff=cutoff,
                      max_snapshot_pairs=settings.tune.max_snapshot_pairs)
    except _user_errors() as exc:
        raise fail(str(exc)) from None
    with output.open("w") as fh:
        for d in pair_dicts(m.pairs):
            fh.write(json.dumps(d) + "\n")
        for h in m.heldout:
            fh.write(json.dumps({"kind": "heldout", **h.__dict__}) + "\n")
    err.print(json.dumps(m.summary()), highlight=False, markup=False)


@tune_app.command()
def answerer(
    repo: Annotated[list[str] | None, typer.Option("--repo", "-r", help="indexed repository to learn from "
                                                   "(repeatable; default: [tune] repos, else all indexed)")] = None,
    examples: Annotated[int, typer.Option("--examples", help="training examples (one step each per epoch)",
                                          min=8)] = 200,
    epochs: Annotated[int, typer.Option("--epochs", min=1, max=20)] = 1,
    rank: Annotated[int, typer.Option("--rank", help="LoRA rank", min=1, max=256)] = 8,
    layers: Annotated[int, typer.Option("--layers", help="adapt the top N layers (0: all)", min=0)] = 8,
    learning_rate: Annotated[float, typer.Option("--lr", help="peak learning rate")] = 2e-4,
    device: Annotated[str, typer.Option("--device", help="auto, cpu or cuda")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="print the adapter's card as JSON")] = False,
    config: ConfigOpt = None,
) -> None:
    """Train a LoRA adapter for the answering model on examples built from the index (where-is from the symbol
    table, what-for from docstrings, in dayone's cited format); off until the llm.lora_path setting names it."""
    from app.answer.modelfiles import ModelFileError
    from app.tune.answerer import tune_answerer
    from app.tune.lora import LoraConfig

    cfg = LoraConfig(rank=rank, alpha=2.0 * rank, layers=layers, learning_rate=learning_rate, epochs=epochs,
                     device=device)
    try:
        bar = _TrainingBar()
        try:
            report = tune_answerer(settings_from(config), repo or None, examples=examples, cfg=cfg, log=_log,
                                   progress=bar)
        finally:
            bar.stop()
    except (*_user_errors(), ModelFileError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        sys.stdout.write(json.dumps(report.card, indent=1) + "\n")
    training = report.card["training"]
    err.print(f"wrote {report.folder / 'adapter.gguf'} ({report.card['adapted_matrices']} matrices; loss "
              f"{training['first_loss']:.3f} -> {training['last_loss']:.3f} in {training['seconds']:.0f} s); turn it "
              f"on with [llm] lora_path = \"{report.folder.name}\" (or DAYONE_LLM__LORA_PATH), off by emptying it",
              highlight=False, markup=False)
