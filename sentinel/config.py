"""One strict loader for every configuration file, used by ``run`` and ``check-config``.

A configuration is a directory of YAML files (several directories merge); each file may
hold any of the top-level sections below. Every error in every file is collected, each
with ``path:line: field: what is wrong``, before anything starts. Each stage owns the schema
of its own section; this module only finds lines, dispatches plugin kinds and cross-checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator

from sentinel.collectors import TargetConfig, collectors
from sentinel.correlate import CorrelationConfig, ServiceConfig, Topology, correlators
from sentinel.detect import DetectorConfig, detectors
from sentinel.schema import Duration, StrictModel, parse_duration
from sentinel.tickets import BUILT_IN_SINKS, ExternalConfig, external_desks
from sentinel.tickets.calendar import CalendarConfig
from sentinel.tickets.messages import TemplatesConfig
from sentinel.tickets.policy import (
    DEFAULT_POLICY,
    DEFAULT_SLA,
    PRIORITIES,
    TEAM_PREFIX,
    DeskSettings,
    EscalationConfig,
    EscalationPolicyConfig,
    LifecycleConfig,
    PriorityConfig,
    SlaTarget,
    TeamConfig,
)

PathKey = tuple[str | int, ...]


class ServerConfig(StrictModel):
    listen: str = "127.0.0.1:9464"
    tick: Duration = 1.0
    token: SecretStr | None = Field(
        None, description="bearer token for writes; default: generated into the state dir"
    )
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_body: int = Field(8 << 20, ge=1024, description="largest request body, in bytes")
    request_timeout: Duration = 30.0
    resolve_timeout: Duration = Field(300.0, description="life of a pushed alert without endsAt")

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not path.is_file():
                raise ValueError(f"{path} is not a file")
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


SINGLE_SECTIONS: dict[str, type[BaseModel]] = {
    "server": ServerConfig,
    "correlation": CorrelationConfig,
    "priority": PriorityConfig,
    "escalation": EscalationConfig,
    "lifecycle": LifecycleConfig,
    "templates": TemplatesConfig,
}
LIST_SECTIONS = (
    "targets",
    "rules",
    "services",
    "escalation_policies",
    "teams",
    "calendars",
    "sinks",
)
SECTIONS = (*SINGLE_SECTIONS, *LIST_SECTIONS, "sla")


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    path: Path
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.field}: " if self.field else ""
        return f"{self.path}:{self.line}: {where}{self.message}"


class ConfigError(Exception):
    """Every problem found in a configuration, in file and line order."""

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = sorted(issues, key=lambda i: (str(i.path), i.line))
        super().__init__("\n".join(map(str, self.issues)))


@dataclass
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    targets: list[TargetConfig] = field(default_factory=list)
    rules: list[DetectorConfig] = field(default_factory=list)
    services: list[ServiceConfig] = field(default_factory=list)
    correlation: CorrelationConfig = field(default_factory=CorrelationConfig)
    desk: DeskSettings = field(default_factory=DeskSettings)
    sources: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def topology(self) -> Topology:
        return Topology.from_services(self.services)


def default_rules_dir() -> Path:
    """The embedded configuration: packaged in the wheel, or the source tree's ``rules/``."""
    packaged = Path(str(resources.files("sentinel"))) / "rules"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "rules"


def _line_index(node: yaml.Node, path: PathKey = ()) -> Iterable[tuple[PathKey, int]]:
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            yield child, key.start_mark.line + 1
            for sub_path, line in _line_index(value, child):
                if sub_path != child:
                    yield sub_path, line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _line_index(item, (*path, index))


def _duplicate_keys(node: yaml.Node) -> Iterable[tuple[str, int]]:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.value in seen:
                yield str(key.value), key.start_mark.line + 1
            seen.add(key.value)
            yield from _duplicate_keys(value)
    elif isinstance(node, yaml.SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(item)


def _dotted(path: PathKey) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_PYDANTIC_PREFIX = re.compile(r"^(Value error|Assertion failed), ")


@dataclass
class _File:
    """One YAML file's data and where each of its values stands."""

    path: Path
    data: dict[str, Any]
    lines: dict[PathKey, int]

    def line(self, path: PathKey) -> int:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1


class _Loader:
    def __init__(self) -> None:
        self.issues: list[ConfigIssue] = []
        self.config = Config()

    def issue(self, file: _File, path: PathKey, message: str) -> None:
        self.issues.append(ConfigIssue(file.path, file.line(path), _dotted(path), message))

    def validate(self, model: type[BaseModel], data: Any, file: _File, path: PathKey) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors():
                loc = tuple(p for p in error["loc"] if p != "[key]")
                message = {
                    "extra_forbidden": "unknown key",
                    "missing": "missing required key",
                }.get(error["type"], _PYDANTIC_PREFIX.sub("", error["msg"]))
                self.issue(file, (*path, *loc), message)
            return None

    def read(self, path: Path) -> _File | None:
        try:
            text = path.read_text(encoding="utf-8")
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except (OSError, UnicodeDecodeError) as exc:
            self.issues.append(ConfigIssue(path, 1, "", f"cannot read: {exc}"))
            return None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            line = mark.line + 1 if mark is not None else 1
            self.issues.append(ConfigIssue(path, line, "", f"invalid YAML: {problem}"))
            return None
        if node is None:
            return None
        file = _File(path, data if isinstance(data, dict) else {}, dict(_line_index(node)))
        if not isinstance(data, dict):
            self.issue(file, (), "a configuration file must be a mapping of sections")
            return None
        for key, line in _duplicate_keys(node):
            self.issues.append(ConfigIssue(path, line, key, "key given twice"))
        return file

    def load(self, files: Sequence[Path]) -> Config:
        singles: dict[str, tuple[_File, Any]] = {}
        items: dict[str, list[tuple[_File, PathKey, Any]]] = {s: [] for s in LIST_SECTIONS}
        sla: dict[str, tuple[_File, Any]] = {}
        for path in files:
            file = self.read(path)
            if file is None:
                continue
            self.config.sources.append(path)
            for section, value in file.data.items():
                if section not in SECTIONS:
                    known = ", ".join(SECTIONS)
                    self.issue(file, (str(section),), f"unknown section (known: {known})")
                elif section in SINGLE_SECTIONS:
                    if section in singles:
                        other = singles[section][0]
                        where = f"{other.path}:{other.line((section,))}"
                        self.issue(file, (section,), f"section already given at {where}")
                    singles[section] = (file, value)
                elif section == "sla":
                    self._collect_sla(file, value, sla)
                elif not isinstance(value, list):
                    self.issue(file, (section,), "must be a list")
                else:
                    items[section] += [(file, (section, i), v) for i, v in enumerate(value)]
        parsed = {
            section: self.validate(SINGLE_SECTIONS[section], value or {}, file, (section,))
            for section, (file, value) in singles.items()
        }
        self.config.server = parsed.get("server") or ServerConfig()
        self.config.correlation = parsed.get("correlation") or CorrelationConfig()
        self._check_strategy(singles)
        self.config.targets = self._plugins(items["targets"], collectors.get, None)
        self.config.rules = self._plugins(items["rules"], detectors.get, "threshold")
        self.config.services = self._models(items["services"], ServiceConfig)
        policies = self._models(items["escalation_policies"], EscalationPolicyConfig)
        teams = self._models(items["teams"], TeamConfig)
        calendars = {c.name: c for c in self._models(items["calendars"], CalendarConfig)}
        escalation = parsed.get("escalation") or EscalationConfig()
        self._check_levels(items["escalation_policies"], {t.name for t in teams}, escalation)
        self._check_topology(items["services"], {p.name for p in policies} | {"default"})
        external = self._plugins(items["sinks"], external_desks.get, None)
        self.config.desk = self._desk(
            parsed.get("priority") or PriorityConfig(), sla, policies, external, teams
        )
        self.config.desk = replace(
            self.config.desk,
            lifecycle=parsed.get("lifecycle") or LifecycleConfig(),
            calendars=calendars,
            templates=parsed.get("templates") or TemplatesConfig(),
        )
        for priority, (file, data) in sla.items():
            name = data.get("calendar") if isinstance(data, dict) else None
            if name and name not in calendars:
                self.issue(file, ("sla", priority, "calendar"), f"unknown calendar {name!r}")
        for file, path, data in items["sinks"]:
            if isinstance(data, dict) and data.get("name") in BUILT_IN_SINKS:
                self.issue(file, (*path, "name"), f"{data['name']!r} is a built-in sink's name")
        if self.issues:
            raise ConfigError(self.issues)
        return self.config

    def _collect_sla(self, file: _File, value: Any, sla: dict[str, tuple[_File, Any]]) -> None:
        if not isinstance(value, dict):
            self.issue(file, ("sla",), "must map priorities (P1..P5) to targets")
            return
        for priority, target in value.items():
            if priority not in PRIORITIES:
                self.issue(
                    file, ("sla", priority), f"unknown priority; use {', '.join(PRIORITIES)}"
                )
            elif priority in sla:
                self.issue(file, ("sla", priority), "SLA for this priority given twice")
            else:
                sla[priority] = (file, target)

    def _plugins(
        self,
        entries: list[tuple[_File, PathKey, Any]],
        lookup: Callable[[str], Any],
        default_kind: str | None,
    ) -> list[Any]:
        valid = []
        for file, path, data in entries:
            if not isinstance(data, dict):
                self.issue(file, path, "must be a mapping")
                continue
            kind = data.get("kind", default_kind)
            if kind is None:
                self.issue(file, path, "missing required key 'kind'")
                continue
            try:
                plugin = lookup(str(kind))
            except KeyError as exc:
                self.issue(file, (*path, "kind"), str(exc.args[0]))
                continue
            model = self.validate(plugin.Config, data, file, path)
            if model is not None:
                valid.append(model)
        self._unique_names(entries)
        return valid

    def _models(self, entries: list[tuple[_File, PathKey, Any]], model: type[BaseModel]) -> list:
        valid = [self.validate(model, data, file, path) for file, path, data in entries]
        self._unique_names(entries)
        return [v for v in valid if v is not None]

    def _unique_names(self, entries: list[tuple[_File, PathKey, Any]]) -> None:
        seen: dict[str, str] = {}
        for file, path, data in entries:
            name = data.get("name") if isinstance(data, dict) else None
            if not isinstance(name, str):
                continue
            if name in seen:
                self.issue(file, (*path, "name"), f"name {name!r} already used at {seen[name]}")
            else:
                seen[name] = f"{file.path}:{file.line((*path, 'name'))}"

    def _check_strategy(self, singles: dict[str, tuple[_File, Any]]) -> None:
        strategy = self.config.correlation.strategy
        if strategy not in correlators.kinds() and "correlation" in singles:
            file = singles["correlation"][0]
            known = ", ".join(correlators.kinds())
            self.issue(file, ("correlation", "strategy"), f"unknown strategy (known: {known})")

    def _check_topology(self, entries: list[tuple[_File, PathKey, Any]], policies: set[str]):
        names = {s.name for s in self.config.services}
        for file, path, data in entries:
            if not isinstance(data, dict):
                continue
            for index, dependency in enumerate(data.get("depends_on") or []):
                if isinstance(dependency, str) and dependency not in names:
                    self.issue(
                        file, (*path, "depends_on", index), f"unknown service {dependency!r}"
                    )
            policy = data.get("escalation_policy")
            if isinstance(policy, str) and policy not in policies:
                self.issue(file, (*path, "escalation_policy"), f"unknown policy {policy!r}")
        for cycle in Topology.from_services(self.config.services).cycles():
            self.config.warnings.append(f"dependency cycle: {' -> '.join([*cycle, cycle[0]])}")

    def _check_levels(
        self,
        entries: list[tuple[_File, PathKey, Any]],
        teams: set[str],
        escalation: EscalationConfig,
    ) -> None:
        """Every ``team:`` target names a team; no level holds longer than the limit."""
        for file, path, data in entries:
            levels = data.get("levels") if isinstance(data, dict) else None
            for number, level in enumerate(levels if isinstance(levels, list) else []):
                if not isinstance(level, dict):
                    continue
                where = (*path, "levels", number)
                for index, target in enumerate(level.get("notify") or []):
                    team = str(target).removeprefix(TEAM_PREFIX)
                    if str(target).startswith(TEAM_PREFIX) and team not in teams:
                        self.issue(file, (*where, "notify", index), f"unknown team {target!r}")
                try:
                    hold = parse_duration(level.get("escalate_after", 0))
                except ValueError:
                    continue  # the model reports it
                if hold > escalation.max_hold:
                    self.issue(
                        file,
                        (*where, "escalate_after"),
                        f"longer than escalation.max_hold ({escalation.max_hold:g} s)",
                    )

    def _desk(
        self,
        priority: PriorityConfig,
        sla_entries: dict[str, tuple[_File, Any]],
        policies: list[EscalationPolicyConfig],
        external: list[ExternalConfig],
        teams: list[TeamConfig],
    ) -> DeskSettings:
        sla = dict(DEFAULT_SLA)
        for level, (file, data) in sla_entries.items():
            target = self.validate(SlaTarget, data, file, ("sla", level))
            if target is not None:
                sla[level] = target
        by_name = {"default": DEFAULT_POLICY, **{p.name: p for p in policies}}
        return DeskSettings(
            priority=priority,
            sla=sla,
            policies=by_name,
            external=external,
            teams={t.name: t for t in teams},
        )


def config_files(locations: Sequence[Path]) -> list[Path]:
    """YAML files of each directory (sorted), or the files themselves."""
    files: list[Path] = []
    for location in locations:
        if location.is_dir():
            files += sorted(p for p in location.iterdir() if p.suffix in (".yaml", ".yml"))
        else:
            files.append(location)
    return files


def load_config(locations: Sequence[Path] | None = None) -> Config:
    """Load and check a configuration; raises ``ConfigError`` listing every problem."""
    locations = list(locations or [default_rules_dir()])
    missing = [p for p in locations if not p.exists()]
    if missing:
        raise ConfigError([ConfigIssue(p, 0, "", "no such file or directory") for p in missing])
    return _Loader().load(config_files(locations))
