"""The simulated organisation: teams, services and the fixed traits each service carries."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cached_property

from idp_tui import Link, Service, Team

from .rand import rng, unit, weighted

TEAMS = ("payments", "checkout", "identity", "search", "platform", "data")

#: Per team: ticket prefix, systems, language weights, domain tags, nouns for generated names.
TEAM_TRAITS: dict[str, dict] = {
    "payments": {
        "code": "PAY", "systems": ("payments", "billing"),
        "languages": {"go": 4, "java": 3, "kotlin": 2, "rust": 1},
        "tags": ("pci",), "nouns": ("payouts", "settlements", "chargebacks", "wallets", "disputes"),
    },
    "checkout": {
        "code": "CHK", "systems": ("checkout", "orders"),
        "languages": {"typescript": 4, "kotlin": 3, "go": 2, "java": 1},
        "tags": ("revenue-critical",), "nouns": ("orders", "carts", "shipments", "returns", "coupons"),
    },
    "identity": {
        "code": "IDN", "systems": ("identity",),
        "languages": {"go": 4, "rust": 2, "java": 2, "typescript": 1},
        "tags": ("pii",), "nouns": ("accounts", "sessions", "tokens", "consents"),
    },
    "search": {
        "code": "SRCH", "systems": ("discovery",),
        "languages": {"python": 3, "java": 3, "go": 2, "rust": 1},
        "tags": ("elasticsearch",), "nouns": ("indices", "suggestions", "synonyms", "facets"),
    },
    "platform": {
        "code": "PLT", "systems": ("platform-core", "messaging"),
        "languages": {"go": 5, "rust": 2, "typescript": 1, "python": 1},
        "tags": ("shared",), "nouns": ("notifications", "schedules", "secrets", "webhooks", "jobs"),
    },
    "data": {
        "code": "DATA", "systems": ("analytics", "data-platform"),
        "languages": {"python": 5, "java": 2, "kotlin": 1, "go": 1},
        "tags": ("pii", "kafka"), "nouns": ("events", "reports", "exports", "metrics", "features"),
    },
}

# name, team, tier, layer (dependencies point to lower or equal layers only), kind, description
CURATED: tuple[tuple[str, str, int, int, str, str], ...] = (
    ("config-service", "platform", 1, 0, "api", "Serves versioned runtime configuration to every service."),
    ("feature-flags", "platform", 2, 0, "api", "Evaluates feature flags and percentage rollouts."),
    ("audit-log", "platform", 2, 1, "api", "Append-only audit trail of privileged actions."),
    ("rate-limiter", "platform", 1, 1, "api", "Token-bucket rate limiting shared by the edge and internal APIs."),
    ("email-sender", "platform", 3, 1, "worker", "Renders templates and delivers transactional email."),
    ("notification-service", "platform", 2, 2, "api", "Fans out user notifications to email, SMS and push."),
    ("webhook-dispatcher", "platform", 3, 2, "worker", "Delivers signed webhooks to merchant endpoints with retries."),
    ("api-gateway", "platform", 1, 6, "api", "Public edge: routing, authentication and request shaping."),
    ("session-store", "identity", 1, 0, "api", "Stores and validates user sessions."),
    ("auth-gateway", "identity", 1, 1, "api", "Issues and verifies access tokens for every API call."),
    ("permissions-api", "identity", 1, 1, "api", "Answers who-can-do-what questions for internal services."),
    ("user-profile", "identity", 2, 2, "api", "Owns user profiles, preferences and contact details."),
    ("mfa-service", "identity", 2, 2, "api", "Second-factor enrolment and verification (TOTP, WebAuthn)."),
    ("oauth-provider", "identity", 2, 3, "api", "OAuth 2.0 and OpenID Connect provider for partner integrations."),
    ("account-recovery", "identity", 3, 3, "api", "Self-service password reset and account recovery flows."),
    ("events-ingest", "data", 1, 0, "worker", "Accepts product events and writes them to the event bus."),
    ("metrics-aggregator", "data", 3, 1, "worker", "Rolls up business metrics into hourly and daily aggregates."),
    ("stream-processor", "data", 2, 1, "worker", "Enriches and joins event streams in near real time."),
    ("warehouse-loader", "data", 3, 2, "worker", "Loads curated event tables into the warehouse every hour."),
    ("analytics-pipeline", "data", 3, 2, "worker", "Batch jobs that build product analytics datasets."),
    ("reporting-api", "data", 2, 3, "api", "Serves merchant reports built from the warehouse."),
    ("data-exporter", "data", 3, 3, "worker", "Exports scheduled data extracts to customer buckets."),
    ("currency-rates", "payments", 2, 0, "api", "Publishes FX rates and converts amounts between currencies."),
    ("ledger-service", "payments", 1, 1, "api", "Double-entry ledger: the record of every money movement."),
    ("fraud-scorer", "payments", 1, 2, "api", "Scores payments for fraud risk in real time."),
    ("payments-api", "payments", 1, 3, "api", "Authorises, captures and refunds card and wallet payments."),
    ("billing-service", "payments", 2, 3, "api", "Subscriptions, invoices and recurring charges."),
    ("refund-worker", "payments", 2, 4, "worker", "Processes refund requests asynchronously."),
    ("invoice-generator", "payments", 3, 4, "worker", "Renders invoices to PDF and archives them."),
    ("payout-scheduler", "payments", 2, 4, "worker", "Schedules merchant payouts and settlement batches."),
    ("catalog-sync", "search", 2, 1, "worker", "Mirrors the product catalog into the search cluster."),
    ("spellcheck-service", "search", 3, 1, "api", "Corrects misspelled queries using a domain dictionary."),
    ("search-indexer", "search", 2, 2, "worker", "Builds and updates search indices from catalog changes."),
    ("ranking-service", "search", 2, 2, "api", "Learning-to-rank models that order search results."),
    ("query-suggest", "search", 3, 3, "api", "Autocomplete and query suggestions as the user types."),
    ("search-api", "search", 1, 3, "api", "Full-text product search with filters and facets."),
    ("recommendations-api", "search", 2, 3, "api", "Personalised product recommendations for home and basket pages."),
    ("tax-calculator", "checkout", 2, 2, "api", "Computes sales tax and VAT for every basket."),
    ("inventory-reservations", "checkout", 1, 2, "api", "Holds stock for baskets in checkout and frees it on timeout."),
    ("pricing-engine", "checkout", 1, 2, "api", "Computes prices, discounts and bundles for a basket."),
    ("promotions-service", "checkout", 2, 3, "api", "Manages vouchers and promotion campaigns."),
    ("shipping-quotes", "checkout", 3, 3, "api", "Fetches delivery options and prices from carriers."),
    ("cart-service", "checkout", 1, 3, "api", "Keeps shopping carts across devices and sessions."),
    ("order-service", "checkout", 1, 4, "api", "Creates orders and drives them through fulfilment states."),
    ("checkout-api", "checkout", 1, 5, "api", "Orchestrates the checkout flow from basket to confirmed order."),
)

ROLES = {
    "api": "HTTP API for {noun} in the {team} domain.",
    "service": "Owns {noun} state for the {team} domain.",
    "worker": "Background worker that processes {noun} jobs.",
    "consumer": "Consumes {noun} events from the bus and updates read models.",
    "sync": "Keeps {noun} in sync with the upstream system of record.",
    "scheduler": "Schedules recurring {noun} tasks.",
}
_WORKER_ROLES = ("worker", "consumer", "sync", "scheduler")

PEOPLE = (
    "alice.nguyen", "bob.okafor", "carmen.diaz", "dmitri.petrov", "erin.walsh", "farah.haddad",
    "gustav.lind", "hana.sato", "ivan.horvat", "jade.moreau", "kofi.mensah", "lena.fischer",
    "mateo.rossi", "nadia.karimi", "oscar.berg", "priya.raman", "quinn.obrien", "rosa.alves",
)

#: Base duration in seconds of each pipeline step (before per-service and per-run variation).
STEP_BASE = {
    "checkout": 8.0, "setup": 30.0, "compile": 110.0, "unit tests": 200.0, "lint": 45.0,
    "docker build": 90.0, "push": 20.0, "helm upgrade": 45.0, "smoke test": 30.0,
}
_COMPILE_FACTOR = {"rust": 2.0, "java": 1.6, "kotlin": 1.7, "go": 0.7, "typescript": 0.6, "python": 0.3}
_MEMORY_MIB = {"java": 900, "kotlin": 850, "go": 120, "rust": 60, "python": 260, "typescript": 220}


@dataclass(slots=True)
class ServiceSpec:
    """Everything fixed about one service: catalog fields plus the knobs of its simulation."""

    index: int
    name: str
    team: str
    tier: int
    layer: int
    kind: str
    description: str
    lifecycle: str = "production"
    language: str = "go"
    system: str = ""
    on_call: str = ""
    tags: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    provides_apis: tuple[str, ...] = ()
    consumes_apis: tuple[str, ...] = ()
    resource: str = ""
    # Versions and pipelines
    major: int = 1
    minor0: int = 0
    release_period: float = 4 * 3600.0
    release_phase: float = 0.0
    ci_period: float = 3600.0
    ci_phase: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)
    # Traffic and resources
    rps: float = 10.0
    error_base: float = 0.002
    latency_p50: float = 0.02
    ratio_p95: float = 3.0
    ratio_p99: float = 2.0
    cpu_idle: float = 0.05
    cpu_per_request: float = 0.002
    memory_base: float = 256 * 2**20
    memory_growth: float = 64 * 2**20
    memory_period: float = 8 * 3600.0
    log_rate: float = 5.0
    #: Unix time a service created by an action came to be (None: seeded, it always existed).
    created: float | None = None

    @property
    def owner(self) -> str:
        return f"team-{self.team}"

    @property
    def is_worker(self) -> bool:
        return self.kind == "worker"

    def to_model(self, seed: int) -> Service:
        team, name = self.team, self.name
        links = (
            Link(title="Repository", url=f"https://git.example.com/{team}/{name}", kind="repo"),
            Link(title="Runbook", url=f"https://runbooks.example.com/{team}/{name}", kind="runbook"),
            Link(title="Dashboard", url=f"https://grafana.example.com/d/{name}/overview", kind="dashboard"),
        )
        # No github.com/project-slug: the sandbox's repositories are not on GitHub, and a github
        # source beside the sandbox would ask GitHub for each of them.
        annotations = {
            "backstage.io/kubernetes-id": name,
            "backstage.io/techdocs-ref": "dir:.",
            "pagerduty.com/service-id": "P" + f"{int(unit(f'{seed}:pd:{name}') * 36**6):06d}"[-6:],
        }
        return Service(
            name=name, owner=self.owner, tier=self.tier, lifecycle=self.lifecycle,
            language=self.language, description=self.description, system=self.system,
            type="worker" if self.kind == "worker" else "service", on_call=self.on_call, links=links, tags=self.tags, depends_on=self.depends_on,
            provides_apis=self.provides_apis, consumes_apis=self.consumes_apis, annotations=annotations,
        )


def teams(seed: int) -> list[Team]:
    """The organisation's teams (and the engineering group above them), with their people."""
    out = [Team(name="engineering", title="Engineering", type="department",
                email="engineering@example.com",
                children=tuple(f"team-{t}" for t in TEAMS))]
    for team in TEAMS:
        r = rng(f"{seed}:team:{team}")
        members = tuple(sorted(r.sample(PEOPLE, 3)))
        out.append(Team(
            name=f"team-{team}", title=team.replace("-", " ").title(), type="team",
            email=f"{team}@example.com", parent="engineering", members=members,
            description=f"Owns the {', '.join(TEAM_TRAITS[team]['systems'])} "
                        f"system{'s' if len(TEAM_TRAITS[team]['systems']) > 1 else ''}.",
            links=(Link(title="Chat", url=f"https://chat.example.com/#team-{team}",
                        kind="chat"),)))
    return out


def _resource(name: str) -> str:
    """The REST resource a service serves, from its name (``payments-api`` → ``payments``)."""
    parts = name.split("-")
    while len(parts) > 1 and (parts[-1].isdigit() or parts[-1] in (
        "api", "service", "worker", "gateway", "engine", "scorer", "store", "consumer", "sync",
        "scheduler", "sender", "dispatcher", "generator", "provider", "loader", "exporter",
        "processor", "aggregator", "ingest", "indexer", "calculator", "pipeline",
    )):
        parts.pop()
    return "-".join(parts)


class World:
    """The catalog for one seed and size. Generation order is a topological order of dependencies."""

    def __init__(self, seed: int, count: int) -> None:
        self.seed = seed
        self.count = count
        self.specs: list[ServiceSpec] = []
        self.by_name: dict[str, ServiceSpec] = {}
        self._generate()

    # Names --------------------------------------------------------------------------------------
    def _pick_entries(self) -> list[tuple[str, str, int, int, str, str]]:
        seed = self.seed
        by_team: dict[str, list] = {team: [] for team in TEAMS}
        for entry in CURATED:
            by_team[entry[1]].append(entry)
        for team, entries in by_team.items():
            # tier-1 services first so that small organisations still have their core services
            entries.sort(key=lambda e: (e[2] != 1, unit(f"{seed}:pick:{e[0]}")))
        team_order = sorted(TEAMS, key=lambda t: unit(f"{seed}:team-order:{t}"))
        picked: list = []
        while len(picked) < min(self.count, len(CURATED)):
            for team in team_order:
                if by_team[team] and len(picked) < self.count:
                    picked.append(by_team[team].pop(0))
        r = rng(f"{seed}:extra-names")
        roles = tuple(ROLES)
        for number in range(len(CURATED) + 1, self.count + 1):
            team = TEAMS[r.randrange(len(TEAMS))]
            noun = r.choice(TEAM_TRAITS[team]["nouns"])
            role = r.choice(roles)
            kind = "worker" if role in _WORKER_ROLES else "api"
            tier = weighted(r, {1: 1, 2: 4, 3: 5})
            description = ROLES[role].format(noun=noun, team=team)
            picked.append((f"{noun}-{role}-{number}", team, tier, 2 + r.randrange(5), kind, description))
        return picked

    # Generation ---------------------------------------------------------------------------------
    def _generate(self) -> None:
        seed = self.seed
        entries = self._pick_entries()
        curated = len(CURATED)
        entries = sorted(entries[:curated], key=lambda e: (e[3], unit(f"{seed}:order:{e[0]}"))) + sorted(
            entries[curated:], key=lambda e: (e[3], unit(f"{seed}:order:{e[0]}")))
        earlier_by_team: dict[str, list[ServiceSpec]] = {team: [] for team in TEAMS}
        foundations: list[ServiceSpec] = []  # platform and identity services, depended on by everyone
        for index, (name, team, tier, layer, kind, description) in enumerate(entries):
            r = rng(f"{seed}:svc:{name}")
            spec = ServiceSpec(index=index, name=name, team=team, tier=tier, layer=layer, kind=kind,
                               description=description)
            self._traits(spec, r)
            spec.depends_on = self._dependencies(spec, r, earlier_by_team, foundations)
            spec.provides_apis = self._apis(spec, r)
            consumes: list[str] = []
            for dep in spec.depends_on:
                consumes.extend(self.by_name[dep].provides_apis[:1])
            spec.consumes_apis = tuple(consumes)
            self.specs.append(spec)
            self.by_name[name] = spec
            earlier_by_team[team].append(spec)
            if team in ("platform", "identity") and spec.kind == "api":
                foundations.append(spec)

    def _traits(self, spec: ServiceSpec, r: random.Random, language: str | None = None) -> None:
        traits = TEAM_TRAITS[spec.team]
        if spec.tier == 1:
            spec.lifecycle = "production"
        else:
            spec.lifecycle = weighted(r, {"production": 82, "experimental": 12, "deprecated": 6})
        spec.language = weighted(r, traits["languages"])
        if language is not None:  # a service created by an action: its language was chosen
            spec.language = language
        spec.system = r.choice(traits["systems"])
        spec.on_call = (f"{spec.owner}-primary" if r.random() < 0.6 else r.choice(PEOPLE))
        kind_tags = ("http", "grpc") if spec.kind == "api" else ("kafka", "batch")
        spec.tags = tuple(dict.fromkeys((spec.language, f"tier-{spec.tier}", r.choice(kind_tags),
                                         *traits["tags"])))
        spec.resource = _resource(spec.name)
        spec.major = 0 if spec.lifecycle == "experimental" else weighted(r, {1: 5, 2: 3, 3: 2})
        spec.minor0 = r.randrange(0, 24)
        spec.release_period = r.uniform(2.0, 8.0) * 3600
        spec.release_phase = r.uniform(0, spec.release_period)
        spec.ci_period = r.uniform(20.0, 180.0) * 60
        spec.ci_phase = r.uniform(0, spec.ci_period)
        compile_factor = _COMPILE_FACTOR[spec.language]
        spec.steps = {
            step: base * r.uniform(0.6, 1.5) * (compile_factor if step == "compile" else 1.0)
            for step, base in STEP_BASE.items()
        }
        tier_rps = {1: 400.0, 2: 90.0, 3: 15.0}[spec.tier]
        spec.rps = tier_rps * r.uniform(0.5, 1.6) * (0.3 if spec.kind == "worker" else 1.0)
        spec.error_base = r.uniform(0.001, 0.006)
        spec.latency_p50 = r.uniform(0.004, 0.045) * (2.5 if spec.kind == "worker" else 1.0)
        spec.ratio_p95 = r.uniform(2.2, 3.6)
        spec.ratio_p99 = r.uniform(1.6, 2.8)
        spec.cpu_idle = r.uniform(0.02, 0.1)
        spec.cpu_per_request = r.uniform(0.0008, 0.004)
        memory = _MEMORY_MIB[spec.language] * 2**20
        spec.memory_base = memory * r.uniform(0.7, 1.3)
        spec.memory_growth = memory * r.uniform(0.1, 0.45)
        spec.memory_period = r.uniform(4.0, 14.0) * 3600
        spec.log_rate = {1: 10.0, 2: 6.0, 3: 3.0}[spec.tier] * r.uniform(0.7, 1.4)

    def _dependencies(self, spec: ServiceSpec, r: random.Random,
                      earlier_by_team: dict[str, list[ServiceSpec]],
                      foundations: list[ServiceSpec]) -> tuple[str, ...]:
        earlier = self.specs
        if not earlier:
            return ()
        wanted = r.choice((0, 1, 1, 2, 2, 3, 3, 4)) if spec.name != "api-gateway" else 6
        deps: dict[str, None] = {}
        for _ in range(wanted * 2):
            if len(deps) >= wanted:
                break
            roll = r.random()
            pool = earlier_by_team[spec.team] if roll < 0.5 else foundations if roll < 0.8 else earlier
            if not pool:
                pool = earlier
            candidate = pool[r.randrange(len(pool))]
            if candidate.name != spec.name:
                deps[candidate.name] = None
        return tuple(deps)

    def _apis(self, spec: ServiceSpec, r: random.Random) -> tuple[str, ...]:
        if spec.kind == "worker":
            return ()
        major = max(spec.major, 1)
        apis = [f"{spec.name}-v{major}"]
        if major > 1 and r.random() < 0.3:
            apis.append(f"{spec.name}-v{major - 1}")
        return tuple(apis)

    # Services created by actions ------------------------------------------------------------------
    def add(self, name: str, team: str, tier: int, kind: str, language: str, description: str,
            created: float, minor0: int) -> ServiceSpec:
        """A new, experimental service (from the "new service" template); its versions are 0.x."""
        if name in self.by_name:
            raise ValueError(f"a service named {name!r} exists")
        r = rng(f"{self.seed}:svc:{name}")
        spec = ServiceSpec(index=len(self.specs), name=name, team=team, tier=tier, layer=6, kind=kind,
                           description=description, created=created)
        self._traits(spec, r, language=language)
        spec.lifecycle = "experimental"
        spec.tags = tuple(dict.fromkeys((*spec.tags, "experimental")))
        spec.major = 0
        spec.minor0 = minor0
        foundations = [s for s in self.seeded if s.team in ("platform", "identity") and s.kind == "api"]
        earlier = {t: [s for s in self.seeded if s.team == t] for t in TEAMS}
        spec.depends_on = self._dependencies(spec, r, earlier, foundations)[:2]
        spec.provides_apis = self._apis(spec, r)
        spec.consumes_apis = tuple(api for dep in spec.depends_on for api in self.by_name[dep].provides_apis[:1])
        self.specs.append(spec)
        self.by_name[name] = spec
        self.__dict__.pop("services", None)
        return spec

    def remove(self, name: str) -> None:
        """Forget a service created by an action (its creation was undone)."""
        spec = self.by_name.get(name)
        if spec is None or spec.created is None:
            return
        del self.by_name[name]
        self.specs.remove(spec)
        self.__dict__.pop("services", None)

    @property
    def seeded(self) -> list[ServiceSpec]:
        """The services generated from the seed (not those created by actions)."""
        return self.specs[:self.count]

    # Views --------------------------------------------------------------------------------------
    @cached_property
    def services(self) -> tuple[Service, ...]:
        """Catalog records, sorted by name."""
        return tuple(spec.to_model(self.seed) for spec in sorted(self.specs, key=lambda s: s.name))

    def get(self, name: str) -> ServiceSpec | None:
        return self.by_name.get(name)
