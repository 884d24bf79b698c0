"""The `:` commands, one registry: the prompt runs and completes them, the command palette lists
them, the help screen (`?`) shows them.

A command is one :class:`Command`: its name and aliases, the kind of argument it takes (none, a
service, an environment or a pane), a line of help, its palette title and what it does (a function
of the app and the argument). The dashboard builds its registry from the pane list, the action
table (:mod:`idp_tui.actionspec`) and the app's own commands (``idp_tui.ui.app``).

This module needs neither Textual nor pydantic: the prompt's completion, the history and the
parsing are plain functions that tests drive directly.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .fuzzy import fuzzy_filter
from .safetext import sanitize

__all__ = [
    "ArgKind",
    "Command",
    "CommandHistory",
    "Invocation",
    "Registry",
]

_WORD = re.compile(r"^[a-z][a-z0-9_!-]*$")
#: Candidates offered by one Tab (the first ones, best first).
MAX_CANDIDATES = 50


class ArgKind(StrEnum):
    """What follows a command's name."""

    NONE = "none"
    SERVICE = "service"
    ENVIRONMENT = "environment"
    PANE = "pane"


#: What an argument is called in messages ("Unknown environment 'moon'").
_ARG_WORDS = {ArgKind.SERVICE: "service", ArgKind.ENVIRONMENT: "environment",
              ArgKind.PANE: "pane"}


@dataclass(frozen=True)
class Command:
    """One `:` command."""

    #: What is typed after `:` (lower case).
    name: str
    #: One line for the help screen and the palette.
    help: str
    #: What it does: ``run(app, argument)``; the argument is None when none was given (only for
    #: ``arg`` NONE, or an optional argument).
    run: Callable[[Any, str | None], None]
    aliases: tuple[str, ...] = ()
    arg: ArgKind = ArgKind.NONE
    #: The argument may be left out (``run`` then gets None).
    arg_optional: bool = False
    #: The command palette's entry ("Go to Catalog"); empty: not in the palette. A command with an
    #: argument has one entry per value: "TITLE: VALUE".
    title: str = ""
    #: Offered by Textual's system commands instead of ours (the palette lists it once).
    system: bool = False
    #: Whether it can run now (an action no source offers cannot): None is always.
    available: Callable[[Any], bool] | None = None

    def __post_init__(self) -> None:
        for word in (self.name, *self.aliases):
            if not _WORD.match(word):
                raise ValueError(f"command {self.name!r}: {word!r} is not a lower-case word")

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def is_available(self, app: Any) -> bool:
        return self.available is None or bool(self.available(app))

    @property
    def usage(self) -> str:
        """":env NAME" — how the help screen shows it."""
        if self.arg is ArgKind.NONE:
            return f":{self.name}"
        word = _ARG_WORDS[self.arg].upper()
        return f":{self.name} [{word}]" if self.arg_optional else f":{self.name} {word}"


@dataclass(frozen=True)
class Invocation:
    """A parsed command line: the command and its argument (None: none given)."""

    command: Command
    argument: str | None


#: The values an argument of each kind may take right now (the app's services, environments…).
Values = Callable[[ArgKind], Sequence[str]]


class Registry:
    """The commands, looked up by name or alias; parses, completes and suggests."""

    def __init__(self, commands: Iterable[Command]) -> None:
        self.commands: tuple[Command, ...] = tuple(commands)
        self._by_word: dict[str, Command] = {}
        for command in self.commands:
            for word in command.words:
                other = self._by_word.get(word)
                if other is not None:
                    raise ValueError(f"command {command.name!r}: {word!r} is already "
                                     f"command {other.name!r}'s")
                self._by_word[word] = command

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.commands)

    def __len__(self) -> int:
        return len(self.commands)

    def find(self, word: str) -> Command | None:
        return self._by_word.get(word.lower())

    @property
    def words(self) -> list[str]:
        return list(self._by_word)

    # Running -------------------------------------------------------------------------------------

    def parse(self, line: str, values: Values,
              resolve: Callable[[ArgKind, str], str | None] | None = None
              ) -> Invocation | str | None:
        """The command ``line`` asks for, or a message saying what is wrong with it (None for an
        empty line). An argument must be one of ``values(kind)``, or a word ``resolve`` turns
        into one (a source's name for an environment: ``prod-eu`` for ``production``)."""
        line = line.strip().lstrip(":").strip()
        if not line:
            return None
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        command = self.find(word)
        if command is None:
            return self.unknown(line)
        if command.arg is ArgKind.NONE:
            if rest:
                return f":{command.name} takes no argument (got {sanitize(rest, max_len=80)!r})"
            return Invocation(command, None)
        if not rest:
            if command.arg_optional:
                return Invocation(command, None)
            return f":{command.name} needs a {_ARG_WORDS[command.arg]} name ({command.usage})"
        known = list(values(command.arg))
        if rest in known:
            return Invocation(command, rest)
        meant = resolve(command.arg, rest) if resolve is not None else None
        if meant is not None and meant in known:
            return Invocation(command, meant)
        return self.unknown_value(command.arg, rest, known)

    def unknown(self, line: str) -> str:
        """"Unknown command …", with the closest command's name when one is close."""
        word = line.partition(" ")[0].lower()
        message = f"Unknown command :{sanitize(line, max_len=80)}"
        closest = self.closest(word)
        if closest is not None:
            return f"{message} — did you mean :{closest}? (:help lists every command)"
        return f"{message} — :help lists every command"

    def closest(self, word: str) -> str | None:
        """The command name (or alias) nearest to ``word``, if any is near enough."""
        if not word:
            return None
        near = difflib.get_close_matches(word, self.words, n=1, cutoff=0.6)
        if near:
            return near[0]
        fuzzy = fuzzy_filter(word, [c.name for c in self.commands], key=lambda w: w)
        return fuzzy[0] if fuzzy else None

    @staticmethod
    def unknown_value(kind: ArgKind, value: str, known: Sequence[str]) -> str:
        what = _ARG_WORDS[kind]
        message = f"Unknown {what} {sanitize(value, max_len=80)!r}"
        near = difflib.get_close_matches(value, list(known), n=1, cutoff=0.6) or \
            fuzzy_filter(value, list(known), key=lambda v: v)[:1]
        if near:
            return f"{message} — did you mean {sanitize(near[0], max_len=80)!r}?"
        if kind is ArgKind.SERVICE:
            return message
        listed = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
        return f"{message}; known: {sanitize(listed or 'none yet', max_len=300)}"

    # Completion ----------------------------------------------------------------------------------

    def complete(self, line: str, values: Values,
                 available: Callable[[Command], bool] | None = None) -> list[str]:
        """What Tab offers for ``line``, best first: whole prompt lines.

        Without a space: the commands whose name (else an alias) starts with what is typed,
        shortest first, or, when none does, those holding its letters in order, those taking an argument followed by a space. After a
        command that takes an argument: its values (``values(kind)``), fuzzy-matched.
        """
        text = line.lstrip().lstrip(":").lstrip()
        if " " not in text:
            return self._complete_word(text.lower(), available)
        word, _, rest = text.partition(" ")
        command = self.find(word)
        if command is None or command.arg is ArgKind.NONE:
            return []
        query = rest.strip()
        known = list(values(command.arg))
        matches = fuzzy_filter(query, known, key=lambda v: v) if query else known
        return [f"{word} {v}" for v in matches[:MAX_CANDIDATES]]

    def _complete_word(self, typed: str,
                       available: Callable[[Command], bool] | None) -> list[str]:
        ranked: list[tuple[tuple[int, int, int], str]] = []
        fuzzy: list[Command] = []
        for index, command in enumerate(self.commands):
            if available is not None and not available(command):
                continue
            space = " " if command.arg is not ArgKind.NONE else ""
            if not typed:
                ranked.append(((0, 0, index), command.name + space))
                continue
            # An exact word, else the name, else the shortest alias that starts so.
            starting = sorted((w for w in command.words if w.startswith(typed)),
                              key=lambda w: (w != typed, w != command.name, len(w)))
            if starting:
                best = starting[0]
                rank = 0 if best == typed else 1
                ranked.append(((rank, len(best), index), best + space))
            else:
                fuzzy.append(command)
        ranked.sort()
        out = [text for _rank, text in ranked]
        if typed and not out:  # (nothing starts so: the commands that hold the letters)
            for command in fuzzy_filter(typed, fuzzy, key=lambda c: list(c.words),
                                        name=lambda c: c.name):
                out.append(command.name + (" " if command.arg is not ArgKind.NONE else ""))
        return out[:MAX_CANDIDATES]


class CommandHistory:
    """The commands run, oldest first, bounded; walked with up and down like a shell's."""

    def __init__(self, entries: Iterable[str] = (), limit: int = 100) -> None:
        self.limit = limit
        self.entries: list[str] = []
        for entry in entries:
            self.add(entry)
        self._index: int | None = None
        self._draft = ""

    def add(self, line: str) -> None:
        """Keep ``line`` as the newest entry (an earlier copy of it is dropped)."""
        line = line.strip()
        self._index = None
        if not line:
            return
        if line in self.entries:
            self.entries.remove(line)
        self.entries.append(line)
        del self.entries[:-self.limit]

    def reset(self) -> None:
        """Start the next walk from the newest entry."""
        self._index = None
        self._draft = ""

    def previous(self, current: str) -> str | None:
        """The entry before the one shown (the newest first); None when there is none. ``current``
        is what the prompt holds: down past the newest entry brings it back."""
        if not self.entries:
            return None
        if self._index is None:
            self._draft = current
            self._index = len(self.entries)
        if self._index == 0:
            return None
        self._index -= 1
        return self.entries[self._index]

    def next(self) -> str | None:
        """The entry after the one shown, then the line being typed before the walk; None when
        not walking."""
        if self._index is None:
            return None
        self._index += 1
        if self._index >= len(self.entries):
            self._index = None
            return self._draft
        return self.entries[self._index]


# The dashboard's commands ------------------------------------------------------------------------

def _show(pane: str) -> Callable[[Any, str | None], None]:
    return lambda app, _arg: app.show_pane(pane)


def _action(name: str) -> Callable[[Any, str | None], None]:
    return lambda app, _arg: app.run_app_action(name)


def _action_available(name: str) -> Callable[[Any], bool]:
    return lambda app: app.action_available(name)


def dashboard_commands(panes: Sequence[Any]) -> Registry:
    """The dashboard's `:` commands: one per pane (``panes``: the pane list's entries), the
    selection, the app actions of the action table, and the app's own."""
    from .actionspec import app_specs  # (the plugin API's enumerations only)

    names = [p.name for p in panes]
    environments_pane = "envs" if "envs" in names else None

    def environment(app: Any, name: str | None) -> None:
        if name is not None:
            app.select_environment(name)
        elif environments_pane is not None:
            app.show_pane(environments_pane)

    def service(app: Any, name: str | None) -> None:
        if name is not None:
            app.select_service(name)
        else:
            app.show_pane(names[0])

    commands = [Command(p.name, f"Show the {p.title} pane", _show(p.name), aliases=p.aliases,
                        title=f"Go to {p.title}") for p in panes]
    commands += [
        Command("environment", "Select an environment (alone: show the environments)",
                environment, aliases=("env",), arg=ArgKind.ENVIRONMENT, arg_optional=True,
                title="Environment"),
        Command("service", "Select a service (alone: show the catalog)", service,
                aliases=("svc",), arg=ArgKind.SERVICE, arg_optional=True, title="Service"),
    ]
    commands += [Command(s.name, s.help, _action(s.name), title=s.title,
                         available=_action_available(s.name)) for s in app_specs()]
    commands += [
        Command("activity", "The audit history: running and past actions (A)", _action("activity"),
                aliases=("actions",), title="Activity", available=_action_available("activity")),
        Command("approvals", "Requests for approval: see, approve or deny them (V)",
                lambda app, _a: app.action_approvals(), title="Approvals"),
        Command("instances", "The selected service's instances in the selected environment (I)",
                lambda app, _a: app.action_instances(), aliases=("pods",), title="Instances"),
        Command("refresh", "Ask every source again (ctrl+r)", lambda app, _a: app.action_refresh(),
                title="Refresh now"),
        Command("health", "Each source's state, latency and errors, and who you are (H)",
                lambda app, _a: app.action_health(), aliases=("sources", "whoami"),
                title="Source health",
                system=True),
        Command("feedback", "Rate idp-tui and tell the platform team what would help (ctrl+f)",
                lambda app, _a: app.action_feedback(), title="Give feedback"),
        Command("help", "Every key that works where you are, and these commands (?)",
                lambda app, _a: app.action_help(), aliases=("keys",)),
        Command("quit", "Quit idp-tui (q)", lambda app, _a: app.exit(0), aliases=("q", "q!")),
    ]
    return Registry(_recorded(command) for command in commands)


def _recorded(command: Command) -> Command:
    """``command`` whose run is counted by the usage recorder (its name only; nothing unless
    ``[telemetry] enabled``): the one place every `:` command, palette entry and system command
    of the dashboard runs through."""
    run = command.run

    def recorded(app: Any, argument: str | None) -> None:
        usage = getattr(getattr(app, "runtime", None), "usage", None)
        if usage is not None:
            usage.command(command.name)
        run(app, argument)

    return dataclasses.replace(command, run=recorded)
