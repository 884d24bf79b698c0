"""Configuration errors and the command line, run as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from idp_tui import __version__
from idp_tui.config import ConfigError, load_config


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "idp_tui", *args], capture_output=True, text=True,
                          env=full_env, timeout=timeout, stdin=subprocess.DEVNULL)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    ("[ui]\nlog_buffer = \"lots\"\n", 2, "ui.log_buffer", "valid integer"),
    ("[ui]\ntheme = \"x\"\ncolour = 3\n", 3, "ui.colour", "unknown key 'colour'"),
    ("[hub.refresh]\ncatalog = -1\n", 2, "hub.refresh.catalog", "greater than 0"),
    ("[sources.main]\ntype = \"nope\"\n", 2, "sources.main.type", "unknown source type 'nope'"),
    ("[sources.main]\nseed = 3\n", 1, "sources.main.type", "missing `type`"),
    ("[sources.main]\ntype = 3\n", 2, "sources.main.type", "expected the kind of source as text"),
    ("[sources.sb]\ntype = \"sandbox\"\nsed = 3\n", 3, "sources.sb.sed", "unknown key 'sed'"),
    ("[sources.sb]\ntype = \"sandbox\"\ntimeout = \"soon\"\n", 3, "sources.sb.timeout",
     "number of seconds"),
    ("[bogus]\nx = 1\n", 1, "bogus", "unknown key 'bogus'"),
    ("[ui\nx=1\n", 1, None, "TOML syntax error"),
])
def test_config_errors_name_file_line_and_field(tmp_path: Path, text: str, line: int,
                                                field: str | None, words: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    error = info.value
    assert error.path == path
    assert error.line == line
    assert error.field == field
    assert words in str(error)


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    # The file's own problems and each source's: one correction round, not one per problem.
    path = write(tmp_path, "[ui]\ntheme = 3\nbogus = 1\n"
                           "[sources.a]\ntype = \"nope\"\n"
                           "[sources.b]\ntype = \"sandbox\"\nseed = \"x\"\nsed = 2\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    error = info.value
    assert (error.line, error.field) == (2, "ui.theme")  # the first one
    assert [(p.line, p.field) for p in error.problems] == [
        (2, "ui.theme"), (3, "ui.bogus"), (5, "sources.a.type"), (8, "sources.b.seed"),
        (9, "sources.b.sed")]
    assert str(error).splitlines() == [p.own for p in error.problems]
    assert "unknown source type 'nope'" in str(error)

    # A sources table that is not one is reported once, not again source by source.
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "sources = 3\nfoo = 1\n"))
    assert [p.field for p in info.value.problems] == ["sources", "foo"]

    # Past twenty, how many more.
    many = "[ui]\n" + "".join(f"k{i} = 1\n" for i in range(25))
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, many))
    problems = info.value.problems
    assert len(problems) == 21 and problems[-1].own == "and 5 more problems"


def test_cli_reports_every_problem_a_line_each(tmp_path: Path) -> None:
    path = write(tmp_path, "[ui]\nlog_buffer = \"lots\"\n[sources.b]\ntype = \"sandbox\"\n"
                           "sed = 2\n")
    env = {"IDP_TUI_DATA_DIR": str(tmp_path / "data")}
    # The dashboard and the commands say it alike (the README shows this prefix).
    for args, prefix in ((["--config", str(path)], "idp-tui: config: "),
                         (["--config", str(path), "services"], "idp-tui: config: ")):
        result = run_cli(*args, env=env)
        assert result.returncode == 2, result.stderr
        assert result.stderr.splitlines() == [
            f"{prefix}{path}, line 2 (ui.log_buffer): Input should be a valid integer, unable to "
            "parse string as an integer, got 'lots'",
            f"{prefix}{path}, line 5 (sources.b.sed): unknown key 'sed' (expected one of: seed, "
            "services, database, log_interval, flood, action_speed)"]
    import json

    result = run_cli("--config", str(path), "services", "--json", env=env)
    body = json.loads(result.stderr)["error"]
    assert body["message"].endswith("(ui.log_buffer): Input should be a valid integer, unable to "
                                    "parse string as an integer, got 'lots'")
    assert [line.split(": ", 1)[0] for line in body["more"]] == [f"{path}, line 5 (sources.b.sed)"]


def test_unknown_key_lists_what_is_allowed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "[ui]\nthem = 'x'\n"))
    assert "expected one of: theme, log_buffer" in str(info.value)


def test_no_file_means_the_sandbox(tmp_path: Path) -> None:
    config = load_config(tmp_path / "missing.toml")
    assert [s.type for s in config.sources] == ["sandbox"]


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "missing.toml", required=True)


def test_invalid_utf8_is_an_error_with_a_line(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"[ui]\ntheme = \"\xff\"\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.line == 2


def test_valid_config_with_keys_and_sources(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """
[ui]
log_buffer = 500
environment = "staging"

[hub]
timeout = 3

[keys]
"pane.catalog" = "1,f1"

[sources.demo]
type = "sandbox"
timeout = 1.5
seed = 11
"""))
    assert config.ui.log_buffer == 500
    assert config.keys == {"pane.catalog": "1,f1"}
    (spec,) = config.sources
    assert (spec.name, spec.type, spec.timeout) == ("demo", "sandbox", 1.5)
    assert spec.config.seed == 11  # type: ignore[attr-defined]


def test_cli_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"idp-tui {__version__}"


def test_cli_help_mentions_config_and_sandbox() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "--config" in result.stdout
    assert "sandbox" in result.stdout


def test_cli_list_sources_shows_the_bundled_sources() -> None:
    result = run_cli("--list-sources")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    sandbox = next(i for i, line in enumerate(lines) if line.startswith("sandbox "))
    head, description = lines[sandbox:sandbox + 2]
    assert head.startswith("sandbox  [actions, catalog, delivery, environments, instances, logs, metrics, "
                           "pipelines, "
                           "provision]")
    assert "idp_tui_sandbox:SandboxSource" in head
    assert "Simulated organisation" in description
    kube = next(line for line in lines if line.startswith("kubernetes "))
    assert kube.startswith("kubernetes  [actions, delivery, environments, instances, logs]")
    assert "idp_tui_kubernetes:KubernetesSource" in kube


@pytest.mark.parametrize("via_env", [False, True])
def test_cli_config_error_exits_2_without_traceback(tmp_path: Path, via_env: bool) -> None:
    path = write(tmp_path, "[ui]\nlog_buffer = \"lots\"\n")
    args = [] if via_env else ["--config", str(path)]
    env = {"IDP_TUI_DATA_DIR": str(tmp_path / "data")}
    if via_env:
        env["IDP_TUI_CONFIG"] = str(path)
    result = run_cli(*args, env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{path}, line 2 (ui.log_buffer)" in result.stderr


def test_cli_a_data_dir_that_is_a_file_exits_2(tmp_path: Path) -> None:
    in_the_way = tmp_path / "data"
    in_the_way.write_text("not a folder")
    for args in ([], ["services"]):
        result = run_cli(*args, env={"IDP_TUI_DATA_DIR": str(in_the_way)})
        assert result.returncode == 2
        assert f"cannot use the data dir {in_the_way}: a file is in the way (it must be a " \
               "folder)" in result.stderr
        assert "Traceback" not in result.stderr and "Errno" not in result.stderr
    assert in_the_way.read_text() == "not a folder"


def test_cli_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = run_cli("--config", str(tmp_path / "nope.toml"),
                     env={"IDP_TUI_DATA_DIR": str(tmp_path / "data")})
    assert result.returncode == 2
    assert "file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_bad_clock_exits_2(tmp_path: Path) -> None:
    result = run_cli(env={"IDP_TUI_DATA_DIR": str(tmp_path / "data"), "IDP_TUI_CLOCK": "soon"})
    assert result.returncode == 2
    assert "IDP_TUI_CLOCK" in result.stderr


def test_plugin_api_does_not_import_textual() -> None:
    code = ("import sys, idp_tui, idp_tui.hub, idp_tui.config, idp_tui.runtime; "
            "print(any(m == 'textual' or m.startswith('textual.') for m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "False", result.stderr


def test_public_names_load_on_first_use_and_match_the_api() -> None:
    import idp_tui
    import idp_tui.api

    assert set(idp_tui.API_NAMES) == set(idp_tui.api.__all__)
    assert set(idp_tui.__all__) == {*idp_tui.api.__all__, "__version__"}
    for name in idp_tui.API_NAMES:
        assert getattr(idp_tui, name) is getattr(idp_tui.api, name)
    assert set(idp_tui.API_NAMES) <= set(dir(idp_tui))
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        idp_tui.Nope  # noqa: B018
    # `import idp_tui` alone (what `idp-tui` does first) loads neither the API nor pydantic.
    code = "import sys, idp_tui; print(sorted(m for m in ('idp_tui.api', 'pydantic') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
    code = "from idp_tui import Service, render; print(Service.__module__, render.__name__)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.split() == ["idp_tui.api.models", "idp_tui.render"], result.stderr


def test_python_dash_m_runs_the_command(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "idp_tui", "--version"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "0.1.0" in result.stdout, result.stderr


# [keys] and [ui] theme: names the dashboard knows, checked without importing Textual ---------------

def test_an_unknown_binding_id_or_theme_is_a_config_error_naming_the_closest(
        tmp_path: Path) -> None:
    path = write(tmp_path, "[ui]\ntheme = \"draculaa\"\n\n[keys]\n\"pane.catalog\" = \"1,f1\"\n"
                           "\"pane.catalg\" = \"9\"\n\"zzz.top\" = \"x\"\n\"logs.follow\" = \" ,\"\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = [(p.line, p.field, p.message) for p in info.value.problems]
    assert problems[0][:2] == (2, "ui.theme")
    assert problems[0][2].startswith("unknown theme 'draculaa' (did you mean 'dracula'? expected "
                                     "one of: textual-dark, textual-light, nord")
    assert problems[1] == (6, "keys.pane.catalg", "unknown binding id 'pane.catalg' (did you "
                           "mean 'pane.catalog'? press ? in the dashboard to see every id)")
    assert problems[2][:2] == (7, "keys.zzz.top")
    assert ("expected SCOPE.NAME with SCOPE one of: action, actions, activity, advisor, app"
            in problems[2][2])
    assert problems[3] == (8, "keys.logs.follow", "expected one or more keys separated by commas "
                           "(e.g. \"1,f1\"), got ' ,'")
    assert len(problems) == 4
    # Every built-in theme and every binding id is accepted.
    from idp_tui.uinames import BINDING_IDS, THEMES

    for theme in THEMES:
        keys = "".join(f"\"{b}\" = \"f12\"\n" for b in sorted(BINDING_IDS))
        config = load_config(write(tmp_path, f"[ui]\ntheme = \"{theme}\"\n[keys]\n{keys}"))
        assert config.ui.theme == theme and set(config.keys) == BINDING_IDS


def test_the_cli_and_the_dashboard_refuse_an_unknown_binding_id(tmp_path: Path) -> None:
    path = write(tmp_path, "[keys]\n\"logs.folow\" = \"space\"\n")
    env = {"IDP_TUI_DATA_DIR": str(tmp_path / "data")}
    for args in (["--config", str(path)], ["--config", str(path), "services"]):
        result = run_cli(*args, env=env)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert result.stderr.splitlines() == [
            f"idp-tui: config: {path}, line 2 (keys.logs.folow): unknown binding id "
            "'logs.folow' (did you mean 'logs.follow'? press ? in the dashboard to see every id)"]


def test_the_binding_ids_are_every_binding_of_every_widget_of_the_ui() -> None:
    import importlib
    import inspect
    import pkgutil

    from textual.binding import Binding
    from textual.dom import DOMNode

    import idp_tui.ui
    from idp_tui.uinames import BINDING_IDS

    found: dict[str, str] = {}
    for info in pkgutil.walk_packages(idp_tui.ui.__path__, "idp_tui.ui."):
        module = importlib.import_module(info.name)
        for cls in vars(module).values():
            if not (inspect.isclass(cls) and issubclass(cls, DOMNode)
                    and cls.__module__.startswith("idp_tui.ui")):
                continue
            for binding in cls.__dict__.get("BINDINGS", ()):
                assert isinstance(binding, Binding) and binding.id, (cls, binding)
                found[binding.id] = cls.__qualname__
    assert len(found) > 50
    assert set(found) == BINDING_IDS, (
        f"missing from idp_tui.uinames: {sorted(set(found) - BINDING_IDS)}; "
        f"no longer in the UI: {sorted(BINDING_IDS - set(found))}")


def test_the_themes_are_textuals_built_in_ones() -> None:
    from textual.theme import BUILTIN_THEMES

    from idp_tui.uinames import THEMES

    assert sorted(THEMES) == sorted(BUILTIN_THEMES)
    assert len(set(THEMES)) == len(THEMES)
    assert "textual-dark" in THEMES  # the default


def test_config_checks_do_not_import_textual(tmp_path: Path) -> None:
    path = write(tmp_path, "[ui]\ntheme = \"nord\"\n[keys]\n\"logs.follow\" = \"space\"\n")
    code = ("import sys\nfrom pathlib import Path\nfrom idp_tui.config import load_config\n"
            f"assert load_config(Path({str(path)!r})).ui.theme == 'nord'\n"
            "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_a_wrong_value_is_shown_as_written_and_cut_when_long(tmp_path: Path) -> None:
    long = "x" * 5000
    path = write(tmp_path, f"[ui]\nlog_buffer = 2026-01-01\nservice = [1, 2]\n"
                           f"[hub]\ntimeout = \"{long}\"\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    messages = [p.message for p in info.value.problems]
    assert messages[0] == "Input should be a valid integer, got 2026-01-01"  # not datetime.date(…)
    assert messages[1] == "Input should be a valid string, got [1, 2]"
    assert messages[2].endswith("got '" + "x" * 80 + "'… (5,000 characters)")


def test_an_error_in_an_array_of_tables_names_its_element_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[[policy.freeze]]\nenvironments = [\"production\"]\n"
                           "start = 2026-12-22T00:00:00Z\nend = 2027-01-04T09:00:00Z\n\n"
                           "[[policy.freeze]]\nenvironments = [\"production\"]\n"
                           "start = 2027-01-04\nend = 2027-01-05T00:00:00Z\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (8, "policy.freeze.1.start")
    assert problem.message.endswith("got 2027-01-04")


def test_the_names_in_ui_have_the_names_limit(tmp_path: Path) -> None:
    from idp_tui import limits

    size = limits.NAME.size
    assert load_config(write(tmp_path, f"[ui]\nservice = \"{'s' * size}\"\n")).ui.service
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, f"[ui]\nenvironment = \"{'e' * (size + 1)}\"\n"))
    (problem,) = info.value.problems
    assert (problem.line, problem.field) == (2, "ui.environment")
    assert problem.message.startswith(f"String should have at most {size} characters")
