"""The profile builder (`n` on the queue screen, `e` on a profile): a profile made from fields
instead of TOML, its plan (configurations, durations, memory) previewed as the fields change,
saved by ctrl+s into the profiles folder the queue reads, after the schema accepted it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Checkbox, Footer, Header, Input, Label, Select, SelectionList, Static
from textual.widgets.selection_list import Selection

from edgetui.engines.catalog import Catalogue
from edgetui.errors import UserError
from edgetui.fmt import duration as fmt_duration
from edgetui.models.discover import FoundModel, format_params, size_text
from edgetui.profiles.draft import PRESETS, Draft, ModelChoice, draft_of, made_here, with_preset
from edgetui.profiles.engines import in_process, lists_models
from edgetui.profiles.estimate import LARGE_PLAN, History, ModelFiles, bases_text, estimate_plan, swept, swept_values
from edgetui.profiles.plan import expand
from edgetui.profiles.schema import Profile
from edgetui.tui.dialogs import ConfirmScreen

PREVIEW_CONFIGS = 6  # configurations listed in the preview; the count and total cover them all
PRESET_LABELS = {"llama-bench": "llama-bench: pp512 / tg128", "paper": "paper: its prompt / 100 tokens",
                 "custom": "custom"}
FIELDS = (  # (input id, draft attribute, label, placeholder)
    ("threads", "threads", "Threads", "e.g. 1 2 4 (empty: all cores, or the server's choice)"),
    ("quant", "quant", "Quant", "source, or Q8_0 Q4_K_M... (variants made from the file)"),
    ("n_ctx", "n_ctx", "Context", "n_ctx values, e.g. 512 2048"),
)
WORKLOAD_FIELDS = (
    ("prompt_tokens", "prompt_tokens", "Prompt tok.", "prompt lengths in tokens, e.g. 512"),
    ("gen_tokens", "gen_tokens", "Gen. tokens", "tokens generated, e.g. 128"),
    ("repetitions", "repetitions", "Repetitions", "counted runs per configuration"),
)


def model_prompt(m: FoundModel) -> Text:
    t = Text(m.name, style="dim" if m.problem else "")
    if m.problem:
        t.append(f"  unreadable: {m.problem}", style="red")
        return t
    size = size_text(m.size_bytes) if m.size_bytes is not None else ""
    facts = " ".join(x for x in (size, m.quant or "", format_params(m.n_params) if m.n_params else "") if x)
    t.append(f"  {facts}", style="dim")
    t.append(f"  {m.source}" + (" (not fetched)" if m.note else ""), style="dim italic")
    return t


def choice_of(m: FoundModel) -> ModelChoice:
    if m.source == "bundled" or m.source == "ollama":
        return ModelChoice(name=m.name)
    return ModelChoice(path=m.path)


class BuilderScreen(Screen[Path | None]):
    """Dismissed with the path saved, or None when left without saving."""

    CSS_PATH = "builder.tcss"
    TITLE = "Profile builder"
    AUTO_FOCUS = "#name"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="builder.save",
                tooltip="check the profile with the schema and write NAME.toml into the profiles folder"),
        Binding("escape", "leave", "Leave", id="builder.leave", tooltip="back to the queue (asks if something changed)"),
        Binding("q", "leave", "Leave", show=False, id="builder.quit",
                tooltip="as escape, outside a text field (the console stays open)"),
        Binding("f1", "app.help", "Keys", id="builder.help", tooltip="every key of this screen (? outside a text field)"),
        Binding("tab", "app.focus_next", "Next field", show=False, id="builder.next"),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, id="builder.previous"),
    ]

    def __init__(self, folder: Path, find_models: Callable[[str | None], Catalogue], *, history: History | None = None,
                 editing: Profile | None = None, taken_names: dict[str, Path] | None = None,
                 available_bytes: int | None = None) -> None:
        super().__init__()
        self.folder = folder
        self.find_models = find_models
        self.history = history
        self.available_bytes = available_bytes
        self.files = ModelFiles()
        # the builder rewrites only files it made; others (shipped, hand-written) are saved as copies
        self.replacing = editing.path if editing is not None and made_here(editing.path) else None
        self.draft = draft_of(editing, copy=self.replacing is None) if editing is not None else Draft.new()
        self.initial = self.draft
        self.taken = {k: v for k, v in (taken_names or {}).items()
                      if self.replacing is None or v.resolve() != self.replacing.resolve()}
        self.choices: list[ModelChoice] = []  # SelectionList value i -> the model it stands for
        self.found: list[FoundModel | None] = []  # and what was found of it (None: only the profile names it)
        self.problem: str | None = None  # the schema's message for the draft as it stands
        self.server_asked: str | None = ""  # the Ollama server whose models are listed ("": the default)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        d = self.draft
        yield Header(show_clock=False, icon="")
        with Horizontal(id="builder-panes"):
            with VerticalScroll(id="form", classes="pane"):
                with Horizontal(classes="field"):
                    yield Label("Name", classes="field-label")
                    yield Input(d.name, placeholder="profile name (the file is NAME.toml)", id="name", compact=True)
                yield Label("Models (space toggles)", classes="field-title")
                yield SelectionList[int](id="models", compact=True)
                for wid, attr, label, hint in FIELDS:
                    with Horizontal(classes="field"):
                        yield Label(label, classes="field-label")
                        yield Input(getattr(d, attr), placeholder=hint, id=wid, compact=True)
                with Horizontal(classes="field"):
                    yield Label("Workload", classes="field-label")
                    yield Select([(PRESET_LABELS[p], p) for p in PRESETS], value=d.preset, allow_blank=False,
                                 id="preset", compact=True)
                for wid, attr, label, hint in WORKLOAD_FIELDS:
                    with Horizontal(classes="field"):
                        yield Label(label, classes="field-label")
                        yield Input(getattr(d, attr), placeholder=hint, id=wid, compact=True)
                with Horizontal(classes="field"):
                    yield Label("Quality", classes="field-label")
                    yield Checkbox("perplexity pass per model", d.quality, id="quality", compact=True)
                with Horizontal(classes="field"):
                    yield Label("Engine", classes="field-label")
                    yield Input(d.engine, placeholder="llama_cpp, or ollama URL / openai URL", id="engine", compact=True)
            with Vertical(id="preview-pane", classes="pane"):
                yield Static(id="problem")
                with VerticalScroll(id="preview-scroll"):
                    yield Static(id="preview")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#form").border_title = "Profile"
        self.query_one("#preview-pane").border_title = "Plan"
        self.query_one("#form").border_subtitle = f"saved into {self.folder}/"
        self._set_paper(self.draft.preset == "paper")
        kind, url = self.draft.engine_kind_url()
        if lists_models(kind) and url:  # an edited Ollama profile: its own server's models
            self.server_asked = url.rstrip("/")
        self._fill_models([], self.server_asked)
        self.load_models(self.server_asked)
        self.update_preview()

    @work(thread=True, exclusive=True, group="builder-models")
    def load_models(self, server: str | None = "") -> None:
        """Discovery reads headers and may ask a server: off the event loop. server: the Ollama
        server to ask ("": the console's default)."""
        found = self.find_models(server).models
        self.app.call_from_thread(self._fill_models, found, server)

    @on(Input.Changed, "#engine")
    def _engine_changed(self, event: Input.Changed) -> None:
        """An Ollama server typed as the engine: its models are listed (once the URL is complete)."""
        kind, url = Draft(engine=event.value).engine_kind_url()
        if lists_models(kind) and url and url.rstrip("/") != self.server_asked \
                and urlsplit(url).hostname:
            self.server_asked = url.rstrip("/")
            self.load_models(self.server_asked)

    def _fill_models(self, found: list[FoundModel], server: str | None = "") -> None:
        if server != self.server_asked:
            return  # the answer for a URL since typed further: a newer search is under way
        picked = list(self.draft.models) if not self.is_mounted or not self.choices else self._picked()
        self.choices, self.found = [], []
        for fm in found:  # a model the profile names is kept as it names it (its path, its label)
            c = choice_of(fm)
            self.choices.append(next((p for p in picked if _same(c, p)), c))
            self.found.append(fm)
        for c in picked:  # a model of the profile that nothing found: kept, and shown as such
            if not any(_same(c, k) for k in self.choices):
                self.choices.append(c)
                self.found.append(None)
        sel = self.query_one("#models", SelectionList)
        was = sel.highlighted
        sel.clear_options()
        options = []
        for i, (c, m) in enumerate(zip(self.choices, self.found)):
            on_ = any(_same(c, p) for p in picked)
            if m is None:
                prompt = Text(c.label or c.name or c.path or "?")
                prompt.append("  from the profile (not found here)", style="dim italic")
            else:
                prompt = model_prompt(m)
            options.append(Selection(prompt, i, on_, disabled=m is not None and m.problem is not None and not on_))
        sel.add_options(options)
        if options:  # space toggles the highlighted one: there is always one
            sel.highlighted = min(was or 0, len(options) - 1)
        self.update_preview()

    def _picked(self) -> list[ModelChoice]:
        sel = self.query_one("#models", SelectionList)
        return [self.choices[i] for i in sel.selected if i < len(self.choices)]

    def _set_paper(self, paper: bool) -> None:
        box = self.query_one("#prompt_tokens", Input)
        box.disabled = paper
        box.placeholder = "the paper's prompt text" if paper else WORKLOAD_FIELDS[0][3]

    # ------------------------------------------------------------------ the draft
    def form_draft(self) -> Draft:
        d = self.draft
        values = {attr: self.query_one(f"#{wid}", Input).value for wid, attr, _, _ in FIELDS + WORKLOAD_FIELDS}
        preset = self.query_one("#preset", Select).value
        return Draft(name=self.query_one("#name", Input).value, models=self._picked(),
                     preset=str(preset) if isinstance(preset, str) else d.preset,
                     quality=self.query_one("#quality", Checkbox).value,
                     engine=self.query_one("#engine", Input).value, base=d.base, **values)

    def check(self, draft: Draft) -> tuple[Profile | None, str | None]:
        kind, _ = draft.engine_kind_url()
        if in_process(kind):
            served = [c.name or "" for c, m in zip(self.choices, self.found)
                      if m is not None and m.source == "ollama" and c in draft.models]
            if served:
                return None, (f"{served[0]} is an Ollama server's model: set the engine to "
                              f"ollama {self._server_of(served[0])}, or pick GGUF files")
        clash = self.taken.get(draft.name.strip())
        if clash is not None:
            return None, f'name: "{draft.name.strip()}" is the name of {clash} already; names must be unique'
        try:
            return draft.check(self.folder / "x.toml"), None
        except UserError as exc:
            return None, exc.message

    def _server_of(self, name: str) -> str:
        m = next((m for m in self.found if m is not None and m.source == "ollama" and m.name == name), None)
        return m.where if m is not None else "URL"

    @on(Input.Changed)
    @on(Checkbox.Changed)
    @on(SelectionList.SelectedChanged)
    def _changed(self) -> None:
        self.update_preview()

    @on(Select.Changed, "#preset")
    def _preset(self, event: Select.Changed) -> None:
        preset = str(event.value)
        if preset == self.draft.preset:
            return
        d = with_preset(self.form_draft(), preset)
        self.draft = d
        for wid in ("prompt_tokens", "gen_tokens"):
            self.query_one(f"#{wid}", Input).value = getattr(d, wid)
        self._set_paper(preset == "paper")
        self.update_preview()

    def update_preview(self) -> None:
        if not self.is_mounted:
            return
        draft = self.form_draft()
        profile, problem = self.check(draft)
        self.problem = problem
        shown = self.query_one("#problem", Static)
        shown.update(Text(problem, style="bold red") if problem else "")
        shown.display = bool(problem)
        preview = Text()
        if profile is None:
            preview.append("the plan shows once the profile is valid", style="dim")
        else:
            self._plan_text(profile, preview)
        self.query_one("#preview", Static).update(preview)

    def _plan_text(self, profile: Profile, t: Text) -> None:
        configs = expand(profile)
        estimates = estimate_plan(configs, self.history, available_bytes=self.available_bytes, files=self.files)
        total = sum(e.seconds for e in estimates) + profile.idle_baseline_s + profile.cooldown_s * len(configs)
        t.append(f"{len(configs)} configuration(s)", style="bold")
        t.append(f", estimated {fmt_duration(total)}\n")
        t.append(f"({bases_text(estimates)})\n", style="dim")
        fields = swept(configs)
        for i, e in enumerate(estimates[:PREVIEW_CONFIGS], 1):
            t.append(f"{i:>2} {swept_values(e.config, fields)}", style="red" if not e.fits else "")
            t.append(f" ~{fmt_duration(e.seconds)}\n", style="dim")
        if len(estimates) > PREVIEW_CONFIGS:
            t.append(f"   ... and {len(estimates) - PREVIEW_CONFIGS} more\n", style="dim")
        unfit = [e for e in estimates if not e.fits]
        if unfit:
            t.append(f"{len(unfit)} will not fit: {unfit[0].memory_note()}\n", style="bold red")
        elif estimates and estimates[0].available_bytes:
            need = max((e.memory_bytes or 0) for e in estimates)
            if need:
                t.append(f"memory: ~{size_text(need)} at most, {size_text(estimates[0].available_bytes)} "
                         "available\n", style="dim")
        if len(configs) > LARGE_PLAN:
            t.append(f"more than {LARGE_PLAN} configurations: the queue asks before running them\n", style="yellow")
        t.rstrip()

    # ------------------------------------------------------------------ keys
    def action_save(self) -> None:
        draft = self.form_draft()
        _, problem = self.check(draft)
        if problem is None:
            try:
                path, _ = draft.save(self.folder, replacing=self.replacing)
            except UserError as exc:
                problem = exc.message if exc.where and "x.toml" not in exc.where else str(exc)
            else:
                self.notify(f"saved {path}", title="Profile saved")
                self.dismiss(path)
                return
        self.update_preview()
        self.notify(problem, title="Not saved", severity="error", timeout=10)

    def action_leave(self) -> None:
        if self.form_draft() == self.initial:
            self.dismiss(None)
            return
        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(None)

        self.app.push_screen(ConfirmScreen("Leave the builder?", "The profile has changes that are not saved.",
                                           yes="Leave", no="Stay"), answered)


def _same(a: ModelChoice, b: ModelChoice) -> bool:
    if a.path or b.path:
        return bool(a.path and b.path) and Path(a.path or "").resolve() == Path(b.path or "").resolve()
    return a.name == b.name
