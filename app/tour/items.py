"""What a tour is made of: items that each carry a repo:path:line, grouped into one `Tour`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

CATEGORIES = ("build", "test", "run")


@dataclass
class Item:
    """One thing in the tour and where it is."""

    text: str
    repo: str
    path: str
    line: int = 1
    detail: str = ""  # a summary, a command's origin, a route's method...
    kind: str = ""

    @property
    def location(self) -> str:
        return f"{self.repo}:{self.path}:{self.line}"

    def to_json(self) -> dict:
        return {**asdict(self), "location": self.location}


@dataclass
class Tour:
    repo: str
    commit: str | None
    generation: str
    about: Item | None
    commands: dict[str, list[Item]] = field(default_factory=dict)
    entry_points: list[Item] = field(default_factory=list)
    central_modules: list[Item] = field(default_factory=list)
    central_symbols: list[Item] = field(default_factory=list)
    directories: list[Item] = field(default_factory=list)
    summaries: str = "extractive"  # "model" when model-written summaries were found for some items
    people: list[dict] = field(default_factory=list)  # people to ask about the central modules (app/tour/people.py)

    def to_json(self) -> dict:
        return {
            "repo": self.repo, "commit": self.commit, "generation": self.generation,
            "about": self.about.to_json() if self.about else None,
            "commands": {k: [i.to_json() for i in v] for k, v in self.commands.items()},
            "entry_points": [i.to_json() for i in self.entry_points],
            "central_modules": [i.to_json() for i in self.central_modules],
            "central_symbols": [i.to_json() for i in self.central_symbols],
            "directories": [i.to_json() for i in self.directories],
            "summaries": self.summaries,
            "people": self.people,
        }

    def to_text(self) -> str:
        """Plain text for the terminal and for pasting; every line ends with its location."""
        out = [f"Tour of {self.repo}" + (f" at {self.commit[:10]}" if self.commit else " (working tree)")]
        if self.about:
            out += ["", "What it is", f"  {self.about.text}", f"  ({self.about.location})"]
        if any(self.commands.values()):
            out += ["", "Build, test, run"]
            for cat in CATEGORIES:
                for i in self.commands.get(cat, []):
                    out.append(f"  {cat:<5}  {i.text}  [{i.location}]")
        if self.entry_points:
            out += ["", "Entry points"]
            for i in self.entry_points:
                detail = f" - {i.detail}" if i.detail else ""
                out.append(f"  {i.kind:<9} {i.text}{detail}  [{i.location}]")
        if self.central_modules:
            out += ["", "Start reading here (most central modules)"]
            for n, i in enumerate(self.central_modules, 1):
                out.append(f"  {n:>2}. {i.text}  [{i.location}]" + (f"\n      {i.detail}" if i.detail else ""))
        if self.central_symbols:
            out += ["", "Central symbols"]
            for n, i in enumerate(self.central_symbols, 1):
                out.append(f"  {n:>2}. {i.text} ({i.kind})  [{i.location}]" + (f"\n      {i.detail}" if i.detail
                                                                                     else ""))
        if self.directories:
            out += ["", "Directory map"]
            for i in self.directories:
                out.append(f"  {i.text:<28} {i.detail}  [{i.location}]")
        if self.people:
            out += ["", "People to ask (about the central modules)"]
            for p in self.people:
                who = f"{p['name']} <{p['email']}>" if p["email"] else p["name"]
                if p["commits"]:
                    what = f"{p['commits']} commits, {p['lines']} lines, last {p['last_change']}"
                else:
                    what = "CODEOWNERS " + "; ".join(p["codeowner_rules"])
                out.append(f"  {who} - {what}")
        return "\n".join(out) + "\n"
