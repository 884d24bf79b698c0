"""The ``idp-tui`` command line's parser: every command, its options and its help (the handlers
are imported only when their command runs)."""

from __future__ import annotations

import argparse
import sys
import textwrap
from typing import Any, NoReturn

from .. import __version__, limits
from ..actionspec import environment_commands, service_commands
from ..api.kinds import ActionKind
from . import argtypes
from .output import EXIT_CODES_HELP, EXIT_USAGE, JSON_HELP, CliError, dumps

# The parser --------------------------------------------------------------------------------------

class Parser(argparse.ArgumentParser):
    """argparse with usage errors as JSON on stderr when ``--json`` was asked for."""

    json_errors = False

    def error(self, message: str) -> NoReturn:
        if Parser.json_errors:
            error = CliError(EXIT_USAGE, message, hint=f"see `{self.prog} --help`")
            sys.stderr.write(dumps(error.as_dict()) + "\n")
            raise SystemExit(EXIT_USAGE)
        super().error(message)


class _Help(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's layout; wraps the description paragraphs."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30, width=100)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:  # laid out by hand (the epilogs)
            return super()._fill_text(text, width, indent)
        return textwrap.fill(text, min(width, 100), initial_indent=indent,
                             subsequent_indent=indent)


EXAMPLES = """\
examples:
  idp-tui                                   the dashboard
  idp-tui envs --json | jq '.deployments[] | select(.environment == "staging")'
  idp-tui logs payments-api --env staging --follow --grep 'timeout|5\\d\\d'
  idp-tui deploy payments-api --env staging --version 1.4.2
  idp-tui deploy payments-api --env production --version 1.4.2 --yes --reason "CHG-1234"
  idp-tui provision postgres --param service=orders --param-file password=./pw.txt --dry-run
  idp-tui audit verify"""


def _common() -> argparse.ArgumentParser:
    """Options every command takes (also accepted after the command name)."""
    common = Parser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                       help="machine-readable JSON on stdout (errors as JSON on stderr)")
    group.add_argument("--config", metavar="PATH", type=argtypes.path, default=argparse.SUPPRESS,
                       help="config file")
    group.add_argument("--data-dir", metavar="PATH", type=argtypes.path, default=argparse.SUPPRESS,
                       help="where state is kept")
    group.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                       help="refuse every mutating action")
    group.add_argument("--color", choices=["auto", "always", "never"], default=argparse.SUPPRESS,
                       help="colours: auto (on a terminal, unless $NO_COLOR is set), always, "
                            "never")
    return common


def _action_options() -> argparse.ArgumentParser:
    parent = Parser(add_help=False)
    group = parent.add_argument_group("action options")
    group.add_argument("--yes", "-y", action="store_true",
                       help="confirm a protected environment (the typed-name confirmation)")
    group.add_argument("--reason", metavar="TEXT", type=argtypes.reason, default=None,
                       help="why (recorded in the audit log; required for protected environments; "
                            f"at most {limits.REASON.size:,} characters)")
    group.add_argument("--dry-run", action="store_true",
                       help="show what would change and the policy decision; change nothing")
    group.add_argument("--id", metavar="ID", dest="action_id", type=argtypes.action_id, default=None,
                       help="idempotency key (default: a fresh UUID); reuse it to retry safely")
    group.add_argument("--wait", action="store_true",
                       help="when the action needs approval ([[policy.approval]]): wait until "
                            "it is approved, then run it (or until it is denied or expires)")
    return parent


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", metavar="SERVICE", type=argtypes.name("service"),
                        help="the service's name")
    parser.add_argument("--env", "-e", required=True, metavar="ENV", type=argtypes.name("environment"),
                        help="the environment")


class _Commands:
    """Stands for a module of command handlers: ``.name`` is a handler importing it on first use."""

    def __init__(self, module: str) -> None:
        self.module = module

    def __getattr__(self, name: str) -> Any:
        module = self.module

        def handler(ctx: Any) -> int:
            from importlib import import_module

            return getattr(import_module(f"{__package__}.{module}"), name)(ctx)  # type: ignore[no-any-return]

        handler.__name__ = handler.__qualname__ = name
        return handler


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="idp-tui",
        formatter_class=_Help,
        description="A keyboard-driven terminal dashboard for your internal developer platform: "
                    "service catalog, environments, pipelines, live logs and metrics, and "
                    "self-service actions. With no command it runs the dashboard; with no config "
                    "file it runs on a built-in sandbox platform. The commands below use the same "
                    "sources, policy and audit log, for scripts and CI.",
        epilog=f"{EXAMPLES}\n\n{JSON_HELP}\n\n{EXIT_CODES_HELP}\n\n" + textwrap.fill(
            "Config: $IDP_TUI_CONFIG or the user config dir (idp-tui/config.toml). "
            "State: $IDP_TUI_DATA_DIR or the user data dir. Keys: press ? in the app. "
            "Installed source types: idp-tui --list-sources. `idp-tui COMMAND --help` "
            "describes each command.", 98),
    )
    parser.add_argument("--version", action="version", version=f"idp-tui {__version__}")
    parser.add_argument("--config", metavar="PATH", type=argtypes.path, default=None,
                        help="config file (default: $IDP_TUI_CONFIG or the user config dir)")
    parser.add_argument("--data-dir", metavar="PATH", type=argtypes.path, default=None,
                        help="where state is kept (default: $IDP_TUI_DATA_DIR or the user data dir)")
    parser.add_argument("--read-only", action="store_true", default=False,
                        help="no mutating action: deploys, rollbacks, scaling, restarts and "
                             "provisioning are refused (exit code 3)")
    parser.add_argument("--list-sources", action="store_true",
                        help="list the installed source types and exit")

    common = _common()
    acting = _action_options()
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands",
                                parser_class=Parser)

    def command(name: str, help_text: str, *parents: argparse.ArgumentParser,
                description: str | None = None) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, description=description or help_text,
                              parents=[common, *parents], formatter_class=_Help,
                              epilog=f"{JSON_HELP}\n\n{EXIT_CODES_HELP}")

    # The commands' modules are imported when one runs, not by the dashboard.
    read, act, audit_cmd = _Commands("read"), _Commands("act"), _Commands("audit_cmd")

    # Reading
    p = command("services", "list the service catalog")
    p.set_defaults(handler=read.services)

    p = command("envs", "what runs where: version, health and replicas per environment",
                description="The service × environment matrix (versions), or with --env one "
                            "environment in detail. --json gives environments and deployments.")
    p.add_argument("--service", "-s", metavar="SERVICE", type=argtypes.name("service"),
                   help="only this service")
    p.add_argument("--env", "-e", metavar="ENV", type=argtypes.name("environment"),
                   help="only this environment, in detail")
    p.set_defaults(handler=read.envs)

    p = command("pipelines", "recent pipeline runs, newest first")
    p.add_argument("--service", "-s", metavar="SERVICE", type=argtypes.name("service"),
                   help="only this service")
    p.add_argument("--limit", "-n", type=argtypes.count(limits.PIPELINES_LIMIT, least=1), default=20,
                   metavar="N", help=f"how many runs (default: %(default)s; at most "
                                     f"{limits.PIPELINES_LIMIT.size:,})")
    p.set_defaults(handler=read.pipelines)

    p = command("sources", "health of each configured source (after one fetch of the catalog "
                           "and the environments); exit code 4 if one is failing")
    p.set_defaults(handler=read.sources)

    p = command("whoami", "who you are: the claimed identity, and the user each source that "
                          "acts confirms (or why not); exit code 4 if one fails",
                description="The identity the audit records name (`[policy] identity` in the "
                            "config, else the operating-system user) and, for each source that "
                            "acts, the user its server confirms (the GitHub token's login, the "
                            "Kubernetes user of a SelfSubjectReview) or why it does not (the "
                            "token names no user, the cluster cannot say). Exit code 0 when a "
                            "source confirms or none can, 4 when a source failed to answer.")
    p.set_defaults(handler=_Commands("whoami_cmd").whoami)

    p = command("metrics", "golden signals of a service in an environment: now, min and max")
    _target(p)
    p.add_argument("--window", "-w", choices=["15m", "1h", "6h", "24h"], default="1h",
                   help="time window (default: %(default)s)")
    p.set_defaults(handler=read.metrics)

    p = command("logs", "logs of every instance of a service, like stern",
                description="Logs of every instance of SERVICE in ENV, merged: one colour per "
                            "instance on a terminal, plain when piped. With --json, one JSON "
                            "object per line. Control characters and escape sequences from the "
                            "source are shown as visible symbols, never sent to the terminal.")
    _target(p)
    p.add_argument("--follow", "-f", action="store_true", help="keep streaming new lines")
    p.add_argument("--since", metavar="DURATION", type=argtypes.duration,
                   help="only lines newer than this, e.g. 30s, 10m, 2h, 1d")
    p.add_argument("--grep", "-g", metavar="REGEX", type=argtypes.regex,
                   help="only lines whose message matches")
    p.add_argument("--tail", "-t", type=argtypes.count(limits.TAIL), metavar="N", default=None,
                   help="past lines to show first (default: 200, or 10000 with --since; at most "
                        f"{limits.TAIL.size:,})")
    p.add_argument("--previous", "-p", action="store_true",
                   help="the log of each container's previous run (one that crashed and was "
                        "restarted), as kubectl logs --previous; not followed")
    p.add_argument("--container", "-c", metavar="NAME", type=argtypes.name("container"), default=None,
                   help="which containers of each instance: all, main (the service's) or a "
                        "container's name (default: the source's setting)")
    p.add_argument("--instance", "-i", metavar="REGEX", type=argtypes.regex, default=None,
                   help="only the instances whose name matches, as stern's pod query")
    p.set_defaults(handler=read.logs)

    p = command("versions", "versions of a service that can be deployed to an environment, "
                            "newest first (* the current one)")
    _target(p)
    p.set_defaults(handler=read.versions)

    p = command("instances", "the instances (pods) of a service in an environment and the "
                             "workload's recent events",
                description="The instances of SERVICE in ENV as kubectl get pods lists them "
                            "(name, ready, status with the reason a container waits or crashed, "
                            "restarts, node, age, images), then the workload's recent events. "
                            "--describe NAME shows one instance in detail, --yaml NAME its "
                            "manifest.")
    _target(p)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--describe", "-d", metavar="INSTANCE", type=argtypes.name("instance"),
                       default=None, help="one instance in detail, like kubectl describe pod")
    group.add_argument("--yaml", metavar="INSTANCE", type=argtypes.name("instance"), default=None,
                       help="one instance's manifest (a pod's YAML)")
    p.set_defaults(handler=_Commands("instances_cmd").instances)

    p = command("templates", "provisioning templates and their parameters")
    p.set_defaults(handler=read.templates)

    p = command("resources", "what has been provisioned (databases, queues, buckets…)")
    p.set_defaults(handler=read.resources)

    # Insights
    p = command("dora", "DORA's four keys: deployment frequency, lead time, change failure "
                        "rate, time to restore, with levels and trends",
                description="DORA's four keys over a window (deployments to the environments "
                            "of type production), from the delivery history of the sources and "
                            "of the audit log: for the organisation and each team, for one team "
                            "and its services (--team), or for one service (--service). Each "
                            "with its level (elite, high, medium, low: the State of DevOps "
                            "report's) and its trend against the period before. With "
                            "--fail-under LEVEL the exit code is 6 when the level of what was "
                            "asked for (the service, the team, else the organisation) is below "
                            "LEVEL: a gate for CI.")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--team", "-T", metavar="TEAM", type=argtypes.name("team"), default=None,
                       help="one team (its owner name, e.g. team-payments or payments) and "
                            "its services")
    group.add_argument("--service", "-s", metavar="SERVICE", type=argtypes.name("service"),
                       default=None, help="one service")
    p.add_argument("--window", "-w", choices=["7d", "30d", "90d", "180d"], default="30d",
                   help="the window (default: %(default)s)")
    p.add_argument("--fail-under", metavar="LEVEL", default=None,
                   choices=["elite", "high", "medium", "low"],
                   help="exit code 6 when the level is below LEVEL (elite, high, medium, low)")
    p.add_argument("--evidence", action="store_true",
                   help="list the deployments each number counted (with --json: for teams and "
                        "the organisation too)")
    p.set_defaults(handler=_Commands("insights").dora)

    p = command("scorecards", "each service's scorecard level (bronze, silver, gold) and the "
                              "rules it does not pass; --fail-under gates a CI job",
                description="Check the scorecard rules (built-in, the config dir's "
                            "scorecards.toml, [scorecards] paths in the config, --rules) against "
                            "every service's facts (catalog, runtime, pipelines, delivery). A "
                            "service's level is the highest whose rules, and all lower levels' "
                            "rules, pass; teams roll up as the share of their services per "
                            "level. With --fail-under LEVEL the exit code is 6 when a service "
                            "(of --team) is below LEVEL. A bad rule file is exit code 2.")
    p.add_argument("--team", "-t", metavar="TEAM", type=argtypes.name("team"), default=None,
                   help="only the services this team owns")
    p.add_argument("--failing", action="store_true",
                   help="only services with rules not passing, and those rules with their fix")
    p.add_argument("--level", "-l", choices=["none", "bronze", "silver", "gold"], default=None,
                   help="only the services at this level")
    p.add_argument("--fail-under", metavar="LEVEL", choices=["bronze", "silver", "gold"],
                   default=None, help="exit code 6 when a service is below LEVEL "
                                      "(bronze, silver or gold)")
    p.add_argument("--rules", metavar="PATH", type=argtypes.path, action="append", default=[],
                   help="a rule file (TOML or YAML) read after the others (repeat for each)")
    p.set_defaults(handler=_Commands("scorecards").scorecards)

    p = command("advise", "what the advisor recommends now (regressions after deploys, stuck "
                          "rollouts, drift, a red default branch), with evidence and remedy",
                description="Evaluate the advisor's rules (built in, and the installed "
                            "idp_tui.advisor_rules plugins) over the catalog, environments, "
                            "pipelines and the metrics of recent deploys: most urgent first, "
                            "each with the figures behind it and the command that fixes it. "
                            "A regression is judged against the same service's baseline before "
                            "the deploy, with a test that accounts for its traffic. Dismissed "
                            "and snoozed recommendations are left out. Thresholds: [advisor] in "
                            "the config. With --fail-on SEVERITY the exit code is 6 when a "
                            "recommendation shown is that severe or more: a gate for CI.")
    p.add_argument("--service", "-s", metavar="SERVICE", type=argtypes.name("service"), default=None,
                   help="only this service's recommendations")
    p.add_argument("--env", "-e", metavar="ENV", type=argtypes.name("environment"), default=None,
                   help="only this environment's (and those about no environment)")
    p.add_argument("--fail-on", metavar="SEVERITY", default=None,
                   choices=["low", "medium", "high", "critical"],
                   help="exit code 6 when a recommendation is SEVERITY or more severe")
    p.add_argument("--evidence", dest="verbose_evidence", action="store_true",
                   help="the figures, time range, source and test behind each recommendation")
    p.set_defaults(handler=_Commands("advise").advise)

    p = command("cost", "what the services cost over a window, per service, team and "
                        "environment, from their requests or use and the [cost] prices",
                description="Each deployment costs, per resource, the larger of what its "
                            "instances request (from the sources that tell it, e.g. "
                            "Kubernetes) and what they used on average over the last day "
                            "(where a metrics source gives CPU and memory), at the [cost] "
                            "prices in the config (cpu_per_core_hour, memory_per_gib_hour, "
                            "currency). The window multiplies today's hourly cost: what it "
                            "costs at the current requests and use. Tables per service, team "
                            "and environment, each with its total.")
    p.add_argument("--team", "-t", metavar="TEAM", type=argtypes.name("team"), default=None,
                   help="only the services this team owns (its owner name, e.g. team-payments "
                        "or payments)")
    p.add_argument("--window", "-w", metavar="DURATION", type=argtypes.duration,
                   default=argtypes.duration("30d"),
                   help="the span costed, e.g. 24h, 7d, 30d (default: 30d)")
    p.set_defaults(handler=_Commands("cost").cost)

    # Acting
    action_help = ("Prints the plan, then one line per progress event until the action ends "
                   "(with --json: one {\"type\": \"event\"} object per line, then the "
                   "{\"type\": \"result\"}). Protected environments need --yes and --reason. "
                   "Every attempt is recorded in the audit log.")
    # deploy, rollback, scale, restart: one row each in the action table
    for row in service_commands():
        p = command(row.name, row.command_help, acting,
                    description=f"{row.command_description} {action_help}")
        _target(p)
        if row.takes_version:
            p.add_argument("--version", "-V", required=row.needs_version, metavar="VERSION",
                           dest="version", default=None, type=argtypes.version, help=row.version_help)
        if row.needs_replicas:
            p.add_argument("--replicas", "-r", required=True, type=argtypes.count(limits.REPLICAS),
                           metavar="N")
        if row.name == "restart":
            p.add_argument("--instance", "-i", metavar="INSTANCE", type=argtypes.name("instance"),
                           default=None, help="restart only this instance (delete the pod: its "
                                              "controller starts another); see `idp-tui "
                                              "instances`")
        p.set_defaults(handler=act.service_action)

    # extend, delete a preview environment: rows of the action table
    for row in environment_commands():
        name = "delete-env" if row.kind is ActionKind.DELETE_ENVIRONMENT else row.name
        p = command(name, row.command_help, acting,
                    description=f"{row.command_description} {action_help}")
        p.add_argument("env", metavar="ENV", type=argtypes.name("environment"),
                       help="the preview environment")
        if row.duration:
            p.add_argument("--by", metavar="DURATION", required=True,
                           type=argtypes.extend_duration,
                           help="how much more time to live, e.g. 12h, 2d, 1w (at most 30d)")
        p.add_argument("--source", metavar="NAME", default=None, type=argtypes.name("source"),
                       help="the source that made it (when several report it)")
        p.set_defaults(handler=act.environment_action, action_kind=row.kind.value)

    p = command("provision", "create something from a template (see `idp-tui templates`)", acting,
                description="Provision from TEMPLATE. Parameters are typed by the template "
                            "(numbers, booleans, choices). Secret parameters should not be given "
                            "with --param (command lines are visible to other users): use "
                            "--param-file NAME=PATH (PATH - reads stdin), the environment variable "
                            "IDP_TUI_PARAM_<NAME>, or, on a terminal, the hidden prompt. Secrets "
                            f"are never printed nor logged. {action_help}")
    p.add_argument("template", metavar="TEMPLATE", type=argtypes.name("template"))
    p.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                   help="a parameter (repeat for each)")
    p.add_argument("--param-file", action="append", default=[], metavar="NAME=PATH",
                   help="a parameter read from a file (for secrets)")
    p.add_argument("--service", "-s", metavar="SERVICE", default=None, type=argtypes.name("service"),
                   help="the service it is for (default: the `service` parameter, if any)")
    p.add_argument("--env", "-e", metavar="ENV", default=None, type=argtypes.name("environment"),
                   help="the environment (default: the `environment` parameter, if any)")
    p.set_defaults(handler=act.provision)

    # A pipeline run's actions, and running a workflow (rows of the action table)
    for name, help_text, description in (
            ("rerun", "re-run a pipeline run's failed jobs (--all: every job, --job: one)",
             "Re-run RUN (as `idp-tui pipelines --json` names it, e.g. owner/repo:123): its "
             "failed jobs, every job (--all) or one job (--job NAME or id)."),
            ("approve", "approve a request for approval (ID, see `approvals`), or the "
                        "deployment a pipeline run waits for review on (RUN)",
             "Approve the request for approval ID (`idp-tui approvals` lists them; --reason "
             "says why; never your own request), or the deployment the pipeline run RUN waits "
             "for (--env: which environment, when it waits in several). Approving a run lets a "
             "deploy go on: the policy judges it as a deploy there (a freeze stops it; a "
             "protected environment needs --yes and --reason, the reason being the review's "
             "comment)."),
            ("reject", "reject the deployment a pipeline run waits for review on",
             "Reject the deployment RUN waits for (--env: which environment); the run ends.")):
        p = command(name, help_text, acting, description=f"{description} {action_help}")
        p.add_argument("run", metavar="ID" if name == "approve" else "RUN",
                       type=argtypes.name("run"),
                       help="a request's id or a pipeline run's id" if name == "approve"
                       else "the pipeline run's id")
        p.add_argument("--source", metavar="NAME", default=None, type=argtypes.name("source"),
                       help="the source that reported the run (when several can act on runs)")
        if name == "rerun":
            p.add_argument("--all", action="store_true", help="re-run every job")
            p.add_argument("--job", metavar="JOB", default=None, type=argtypes.name("job"),
                           help="re-run this job (its name or id)")
        else:
            p.add_argument("--env", "-e", metavar="ENV", default=None,
                           type=argtypes.name("environment"),
                           help="the environment reviewed (default: the one the run waits in)")
        # `approve ID` also approves a request for approval (see `idp-tui approvals`).
        p.set_defaults(handler=_Commands("approvals_cmd").approve if name == "approve"
                       else act.run_action)
    p = command("dispatch", "run a workflow of a service's repository with its inputs", acting,
                description="Run WORKFLOW (its file name, id or name) of SERVICE's repository "
                            "on --ref, with the inputs its file declares as --param NAME=VALUE "
                            "(typed and checked against the declaration before anything is "
                            "sent: a bad value is exit code 2). An input naming an environment "
                            "is where it acts for the policy (protected: --yes and --reason; a "
                            f"freeze stops it). {action_help}")
    p.add_argument("service", metavar="SERVICE", type=argtypes.name("service"))
    p.add_argument("workflow", metavar="WORKFLOW", type=argtypes.name("workflow"))
    p.add_argument("--ref", metavar="REF", default=None, type=argtypes.version,
                   help="the branch or tag to run it on (default: the source's)")
    p.add_argument("--param", "-p", action="append", default=[], metavar="NAME=VALUE",
                   help="an input (repeat for each)")
    p.add_argument("--param-file", action="append", default=[], metavar="NAME=PATH",
                   help="an input read from a file")
    p.add_argument("--source", metavar="NAME", default=None, type=argtypes.name("source"),
                   help="the source that runs it (when several can)")
    p.set_defaults(handler=act.dispatch)

    # Four-eyes approvals
    approvals = _Commands("approvals_cmd")
    p = command("approvals", "requests for approval: pending and approved ones, who may approve "
                             "them and until when",
                description="The actions waiting for approval ([[policy.approval]] in the "
                            "config), read from the audit trail: each request's id, what it "
                            "does, who asked, the approvals it has and needs, who may approve it "
                            "and when it expires. --all lists denied, expired and run ones too.")
    p.add_argument("--all", action="store_true", help="also the requests already decided")
    p.set_defaults(handler=approvals.approvals)
    p = command("deny", "deny a request for approval (recorded in the audit trail)",
                description="Deny request ID (see `idp-tui approvals`): it never runs. Its "
                            "approvers may deny it, and the one who asked may withdraw it.")
    p.add_argument("request", metavar="ID", type=argtypes.action_id, help="the request's id")
    p.add_argument("--reason", metavar="TEXT", type=argtypes.reason, default=None,
                   help="why (required; recorded in the audit trail)")
    p.set_defaults(handler=approvals.deny)
    p = command("run-approved", "run an approved request (once: an id names one action)",
                description="Run request ID now that it has its approvals: through the policy "
                            "and the audit log as any action, its started record naming the "
                            "request and the approvals. A request runs once; a denied or "
                            f"expired one does not run. {action_help}")
    p.add_argument("request", metavar="ID", type=argtypes.action_id, help="the request's id")
    p.set_defaults(handler=approvals.run_approved, dry_run=False, wait=False)

    # Audit
    p = command("audit", "the audit log of every action (`audit verify` checks its hash chain)",
                description="List the audit log: who did what, where, why, and how it ended. "
                            "With --json, one record per line as stored. `idp-tui audit verify` "
                            "checks the hash chain and names the first broken record.")
    p.add_argument("--limit", "-n", type=argtypes.count(limits.AUDIT_LIMIT), default=50, metavar="N",
                   help="the last N records (default: %(default)s; 0 for all; at most "
                        f"{limits.AUDIT_LIMIT.size:,})")
    p.add_argument("--follow", "-f", action="store_true", help="keep printing new records")
    p.add_argument("--filter", metavar="WORDS", default="",
                   help="only the actions that match, as the Activity screen's filter: "
                        "service:NAME env:NAME kind:deploy user:NAME (claimed or confirmed) "
                        "team:NAME (the catalog's owner) outcome:failed, and words of the text")
    p.set_defaults(handler=audit_cmd.list_records)
    audit_sub = p.add_subparsers(dest="audit_command", metavar="SUBCOMMAND",
                                 parser_class=Parser)
    v = audit_sub.add_parser("verify", help="check the hash chain and its anchor; exit code 1 "
                                            "names what is wrong",
                             description="Check every record's hash and its link to the record "
                                         "before it, and that the log still ends at the head "
                                         "kept in audit.anchor (a deleted, emptied, truncated or "
                                         "replaced log, or a line added by hand, is named). Exit "
                                         "code 0 when the chain is intact, 1 naming the first "
                                         "broken record (line, action id, what is wrong).",
                             parents=[common], formatter_class=_Help)
    v.add_argument("--file", type=argtypes.path, metavar="PATH", default=None,
                   help="check this JSON-lines log instead (a mirror made by `audit mirror`, "
                        "a copy)")
    v.set_defaults(handler=audit_cmd.verify)
    m = audit_sub.add_parser("mirror", help="copy the PostgreSQL store's chain into a local "
                                            "JSON-lines file",
                             description="Copy the records of the store's hash chain that FILE "
                                         "does not have yet into it, as they are stored: FILE "
                                         "is the same chain in the data dir's log format, "
                                         "checked alone by `audit verify --file FILE`. A record "
                                         "that does not follow FILE's last one (another chain, "
                                         "a changed record) stops the copy with exit code 1. "
                                         "With --follow, new records are copied every second "
                                         "until interrupted.",
                             parents=[common], formatter_class=_Help)
    m.add_argument("file", type=argtypes.path, metavar="FILE", help="the JSON-lines mirror")
    m.add_argument("--follow", "-f", action="store_true", help="keep copying new records")
    m.set_defaults(handler=audit_cmd.mirror)
    r = audit_sub.add_parser("repair", help="move a damaged tail of the audit log aside and "
                                            "record the repair in the chain",
                             description="When `audit verify` finds a damaged tail (a partial "
                                         "last record after a crash or a full disk, a line added "
                                         "by hand) or a log that lost records (deleted, emptied, "
                                         "truncated): move the damaged bytes into a file next to "
                                         "the log (kept, named in the output), cut the log back "
                                         "to its last good record and append a repair record "
                                         "(who, why, what was moved: byte range and hash). "
                                         "Actions work again after it. Edited records in the "
                                         "middle of the log are not repaired. With the "
                                         "PostgreSQL store: when its chain no longer holds the "
                                         "record this machine wrote or checked last (the store "
                                         "was reset, emptied or rewritten), record that this "
                                         "machine takes the chain as it is now.",
                             parents=[common], formatter_class=_Help)
    r.add_argument("--reason", required=True, metavar="TEXT",
                   help="why (recorded in the repair record)")
    r.set_defaults(handler=audit_cmd.repair)

    # Feedback and usage analytics
    usage = _Commands("usage_cmd")
    p = command("feedback", "rate idp-tui from 1 to 5 and tell the platform team what would help",
                description="Store a rating (1 poor … 5 great) and a comment in the store (the "
                            "data dir's, or the organisation's PostgreSQL), with your keyed hash "
                            "for a name. Feedback is stored whether or not [telemetry] is "
                            "enabled. On a terminal, a missing --rating is asked for.")
    p.add_argument("--rating", "-r", metavar="1-5", type=argtypes.rating, default=None,
                   help="how satisfied you are: 1 (poor) to 5 (great)")
    p.add_argument("--comment", "-m", metavar="TEXT", type=argtypes.comment, default=None,
                   help="what would help (at most 2,000 characters)")
    p.set_defaults(handler=usage.feedback)
    p = command("usage", "usage analytics for the platform team (`usage report`)",
                description="What [telemetry] recorded in the store: see `idp-tui usage report "
                            "--help`.")
    p.set_defaults(handler=usage.missing)
    usage_sub = p.add_subparsers(dest="usage_command", metavar="SUBCOMMAND", parser_class=Parser)
    u = usage_sub.add_parser("report", help="active people, adoption, actions, errors, time to "
                                            "first deploy, satisfaction and comments",
                             description="The figures of the usage events (recorded where "
                                         "[telemetry] enabled = true) and of the feedback in the "
                                         "store, over the last --since: active people, adoption "
                                         "per pane and command, actions per environment and "
                                         "their outcomes, errors shown per source, the median "
                                         "time from a person's first run to their first deploy, "
                                         "the satisfaction score and the comments.",
                             parents=[common], formatter_class=_Help)
    u.add_argument("--since", metavar="DURATION", type=argtypes.duration,
                   default=argtypes.duration("30d"),
                   help="the span reported, e.g. 7d, 30d, 90d (default: 30d)")
    u.set_defaults(handler=usage.report)
    return parser
