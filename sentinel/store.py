"""All durable state, in one SQLite file (WAL mode, full sync).

The daemon and the CLI share the file: the CLI acknowledges or resolves an incident by
writing here, and the daemon sees it on its next tick. Every state change that leads to an
external action is committed together with an outbox row before the action runs, so a crash
can repeat a delivery but never lose one. The schema carries a version (``user_version``)
and is brought up to date by ``MIGRATIONS`` on open.

Only one daemon writes alerts to a file (``sentinel run`` holds a lock on its state
directory), so the store keeps the fingerprint, row id and expiry of each alert firing in
memory: a batch of new alerts needs no lookup to learn that they are new, a refresh or a
resolution finds its row by id, and finding the pushed alerts that expired needs no index
that every refresh would rewrite. So no index is keyed by fingerprint: a hash, it put each
new alert on a random page of the index, and a commit of a hundred new alerts wrote most of
that index again. The store itself keeps one firing row per fingerprint. The CLI may resolve
alerts behind the daemon's back; such an entry is found stale at its next use and dropped.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from sentinel.model import (
    Alert,
    AlertStatus,
    Change,
    GroupingHint,
    Incident,
    IncidentStatus,
    OpenIncident,
    Placement,
    Problem,
    RootCause,
    Ticket,
    TimelineEntry,
)
from sentinel.silences import Matcher, Silence

# Alerts raised through the PagerDuty-style events API, found again by their dedup keys
# (``firing_event``): written out the same in the index and the query, literals and all,
# or the partial index is not used.
EVENTS_SOURCE = "pagerduty-events"
_DEDUP_KEY = """json_extract(labels, '$."dedup_key"')"""
_EVENTS = f"status = 'firing' AND source = '{EVENTS_SOURCE}'"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE incidents (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        status TEXT NOT NULL,
        priority TEXT NOT NULL,
        impact INTEGER NOT NULL,
        urgency INTEGER NOT NULL,
        services TEXT NOT NULL,
        root_causes TEXT NOT NULL,
        policy TEXT NOT NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        acknowledged_at REAL,
        resolved_at REAL,
        escalation_level INTEGER NOT NULL DEFAULT 0,
        escalation_cycle INTEGER NOT NULL DEFAULT 0,
        next_escalation_at REAL
    );
    CREATE INDEX incidents_status ON incidents (status);
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        incident_id INTEGER NOT NULL REFERENCES incidents (id),
        labels TEXT NOT NULL,
        annotations TEXT NOT NULL,
        status TEXT NOT NULL,
        starts_at REAL NOT NULL,
        ends_at REAL,
        source TEXT NOT NULL,
        score REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX alerts_one_firing ON alerts (fingerprint) WHERE status = 'firing';
    CREATE INDEX alerts_incident ON alerts (incident_id);
    CREATE TABLE tickets (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL UNIQUE REFERENCES incidents (id),
        sink TEXT NOT NULL,
        acknowledge_due REAL NOT NULL,
        resolve_due REAL NOT NULL,
        external_ref TEXT,
        ack_breached INTEGER NOT NULL DEFAULT 0,
        resolve_breached INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE timeline (
        id INTEGER PRIMARY KEY,
        incident_id INTEGER NOT NULL REFERENCES incidents (id),
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        actor TEXT NOT NULL
    );
    CREATE INDEX timeline_incident ON timeline (incident_id);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        dedup_key TEXT NOT NULL UNIQUE,
        incident_id INTEGER REFERENCES incidents (id),
        event TEXT NOT NULL,
        sink TEXT NOT NULL,
        target TEXT NOT NULL,
        title TEXT NOT NULL,
        body TEXT NOT NULL,
        notify_type TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        created_at REAL NOT NULL,
        sent_at REAL
    );
    CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
    CREATE TABLE problems (
        id INTEGER PRIMARY KEY,
        signature TEXT NOT NULL UNIQUE,
        status TEXT NOT NULL,
        occurrences INTEGER NOT NULL,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        services TEXT NOT NULL,
        workaround TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE problem_incidents (
        problem_id INTEGER NOT NULL REFERENCES problems (id),
        incident_id INTEGER NOT NULL REFERENCES incidents (id),
        PRIMARY KEY (problem_id, incident_id)
    );
    """,
    """
    CREATE INDEX alerts_expiry ON alerts (ends_at) WHERE status = 'firing';
    ALTER TABLE alerts ADD COLUMN generator_url TEXT NOT NULL DEFAULT '';
    ALTER TABLE alerts ADD COLUMN node TEXT NOT NULL DEFAULT '';
    ALTER TABLE alerts ADD COLUMN group_key TEXT NOT NULL DEFAULT '';
    CREATE INDEX alerts_group ON alerts (group_key, status);
    CREATE INDEX alerts_incident_node ON alerts (incident_id, status, node);
    ALTER TABLE incidents ADD COLUMN root_node TEXT NOT NULL DEFAULT '';
    UPDATE incidents SET root_node = COALESCE(json_extract(root_causes, '$[0].node'), '');
    CREATE INDEX incidents_open_root ON incidents (root_node) WHERE status != 'resolved';
    CREATE TABLE silences (
        id TEXT PRIMARY KEY,
        matchers TEXT NOT NULL,
        starts_at REAL NOT NULL,
        ends_at REAL NOT NULL,
        created_by TEXT NOT NULL,
        comment TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE changes (
        id INTEGER PRIMARY KEY,
        service TEXT NOT NULL,
        kind TEXT NOT NULL,
        summary TEXT NOT NULL,
        version TEXT NOT NULL DEFAULT '',
        author TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL
    );
    CREATE INDEX changes_service_at ON changes (service, at);
    """,
    """
    ALTER TABLE incidents ADD COLUMN signature TEXT NOT NULL DEFAULT '';
    CREATE INDEX incidents_signature ON incidents (signature, created_at);
    CREATE INDEX changes_at ON changes (at);
    ALTER TABLE problems ADD COLUMN resolved_at REAL;
    CREATE TABLE problem_timeline (
        id INTEGER PRIMARY KEY,
        problem_id INTEGER NOT NULL REFERENCES problems (id),
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL,
        actor TEXT NOT NULL
    );
    CREATE INDEX problem_timeline_problem ON problem_timeline (problem_id);
    """,
    """
    CREATE TABLE external_refs (
        sink TEXT NOT NULL,
        incident_id INTEGER NOT NULL REFERENCES incidents (id),
        ref TEXT NOT NULL,
        PRIMARY KEY (sink, incident_id)
    );
    DROP INDEX incidents_open_root;
    CREATE INDEX incidents_open_root ON incidents (root_node)
        WHERE status NOT IN ('resolved', 'closed');
    CREATE INDEX incidents_resolved_at ON incidents (resolved_at) WHERE status = 'resolved';
    """,
    # alerts_incident_node starts with incident_id: the narrower index only slowed inserts.
    """
    DROP INDEX alerts_incident;
    """,
    # What detectors have learned (baselines, profiles), so a restart does not forget it.
    """
    CREATE TABLE learned (
        detector TEXT PRIMARY KEY,
        saved_at REAL NOT NULL,
        body BLOB NOT NULL
    );
    """,
    # Expiry is found from the store's memory of what fires (see the module's docstring);
    # only alerts outside the topology carry a group key, the only ones looked up by it.
    """
    DROP INDEX alerts_expiry;
    DROP INDEX alerts_group;
    CREATE INDEX alerts_group ON alerts (group_key) WHERE status = 'firing' AND group_key != '';
    """,
    # Firing alerts are found by row id from the store's memory (see the module's
    # docstring); the firing ones are listed in id order, which new rows only extend.
    """
    DROP INDEX alerts_one_firing;
    CREATE INDEX alerts_firing ON alerts (id) WHERE status = 'firing';
    """,
    # Incidents' times in their alerts' own clock, for correlation (see ``Incident``).
    """
    ALTER TABLE incidents ADD COLUMN began_at REAL;
    ALTER TABLE incidents ADD COLUMN active_at REAL;
    """,
    # Operators' merges and splits, which correlation follows (see ``GroupingHint``).
    """
    CREATE TABLE grouping_hints (
        a TEXT NOT NULL,
        b TEXT NOT NULL,
        together INTEGER NOT NULL,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        PRIMARY KEY (a, b)
    );
    """,
    # When each service began, and stopped, alerting in an open incident, from the index.
    """
    DROP INDEX alerts_incident_node;
    CREATE INDEX alerts_incident_node ON alerts (incident_id, status, node, starts_at, ends_at);
    """,
    # The same, per incident and service, kept as alerts are written: reading it from the
    # alerts cost each batch a pass over every alert an open incident ever held. Triggers
    # keep it on every insert and status change, whoever writes; the two statements that
    # move alerts between incidents (merge, split) rebuild what they touched.
    """
    DROP INDEX alerts_incident_node;
    CREATE INDEX alerts_incident_node ON alerts (incident_id, status, node);
    CREATE TABLE incident_services (
        incident_id INTEGER NOT NULL REFERENCES incidents (id),
        node TEXT NOT NULL,
        onset REAL NOT NULL,
        firing INTEGER NOT NULL,
        ended_at REAL,
        PRIMARY KEY (incident_id, node)
    ) WITHOUT ROWID;
    INSERT INTO incident_services
        SELECT incident_id, node, min(starts_at), sum(status = 'firing'),
               max(CASE WHEN status != 'firing' THEN ends_at END)
        FROM alerts GROUP BY incident_id, node;
    CREATE TRIGGER alerts_added AFTER INSERT ON alerts BEGIN
        INSERT INTO incident_services VALUES (
            NEW.incident_id, NEW.node, NEW.starts_at, NEW.status = 'firing',
            CASE WHEN NEW.status != 'firing' THEN NEW.ends_at END
        ) ON CONFLICT DO UPDATE SET
            onset = min(onset, excluded.onset),
            firing = firing + excluded.firing,
            ended_at = coalesce(max(ended_at, excluded.ended_at), ended_at, excluded.ended_at);
    END;
    CREATE TRIGGER alerts_status AFTER UPDATE OF status ON alerts
    WHEN OLD.status != NEW.status BEGIN
        UPDATE incident_services SET
            firing = firing + (NEW.status = 'firing') - (OLD.status = 'firing'),
            ended_at = CASE WHEN NEW.status = 'firing' THEN ended_at
                ELSE coalesce(max(ended_at, NEW.ends_at), ended_at, NEW.ends_at) END
        WHERE incident_id = NEW.incident_id AND node = NEW.node;
    END;
    """,
    # What the daemon reads on every page, resolution and acknowledgement, found without
    # a pass over the store's history: the worked incidents seen before with a root cause
    # are counted from the index alone (a long-recurring problem has thousands), whom an
    # incident paged is read from its own notifications, and active silences from those
    # not yet ended. A report reads the incidents opened in its period, not all of them.
    """
    DROP INDEX incidents_signature;
    CREATE INDEX incidents_signature ON incidents (signature, created_at, status);
    CREATE INDEX outbox_incident ON outbox (incident_id);
    CREATE INDEX silences_ends ON silences (ends_at);
    CREATE INDEX incidents_created ON incidents (created_at);
    """,
    # The firing alerts the events API raised, by their dedup keys (``firing_event``).
    f"""
    CREATE INDEX alerts_dedup_key ON alerts ({_DEDUP_KEY}) WHERE {_EVENTS};
    """,
)


def _statements(script: str) -> Iterator[str]:
    """A script's statements one by one (``executescript`` would commit midway); a
    trigger's body holds semicolons of its own."""
    statement = ""
    for part in script.split(";"):
        statement += part + ";"
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                yield statement
            statement = ""


def _in(column: str, values: Sequence[Any]) -> tuple[str, list[Any]]:
    """A ``column IN (…)`` condition, or one that always holds when ``values`` is empty."""
    if not values:
        return "1=1", []
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


def _incident_filter(statuses: Sequence[str], priorities: Sequence[str]) -> tuple[str, list[Any]]:
    by_status, status_params = _in("status", statuses)
    by_priority, priority_params = _in("priority", priorities)
    return f"{by_status} AND {by_priority}", [*status_params, *priority_params]


def _change_filter(services: Sequence[str], since: float, until: float) -> tuple[str, list[Any]]:
    by_service, params = _in("service", services)
    return f"at >= ? AND at <= ? AND {by_service}", [since, until, *params]


def _sorted_json(mapping: Mapping[str, str]) -> str:
    """An alert's labels or annotations, keys sorted, compact (written for every alert)."""
    try:
        return orjson.dumps(mapping, option=orjson.OPT_SORT_KEYS).decode()
    except orjson.JSONEncodeError:  # not a dict, or a lone surrogate only json can escape
        return json.dumps(dict(mapping), sort_keys=True)


def _json(value: Any) -> str:
    """A column's JSON, compact (incidents' services and causes are written on every join).
    Text that UTF-8 cannot hold (a lone surrogate) is refused where it is sent."""
    return orjson.dumps(value).decode()


_DONE_STATUSES = (IncidentStatus.RESOLVED, IncidentStatus.CLOSED)  # no longer worked
_DONE = f"{tuple(s.value for s in _DONE_STATUSES)}"
# The others, by name: ``status IN`` finds the few worked incidents by index, where
# ``NOT IN`` passes over every incident the store ever held.
_WORKED = f"{tuple(s.value for s in IncidentStatus if s not in _DONE_STATUSES)}"

# The largest row id SQLite can hold; anything above names no row.
MAX_ROW_ID = 2**63 - 1
_PRIORITY_ORDER = "CAST(substr(priority, 2) AS INTEGER)"
_TABLES = (
    "incidents",
    "alerts",
    "tickets",
    "timeline",
    "outbox",
    "problems",
    "silences",
    "changes",
)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    dedup_key: str
    incident_id: int | None
    event: str
    sink: str
    target: str
    title: str
    body: str
    notify_type: str
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    sent_at: float | None


FiringRow = tuple[int, float | None]  # a firing alert's row id and ``ends_at``


class StoreError(RuntimeError):
    """The state file cannot be opened or is from a newer sentinel."""


class Store:
    """SQLite-backed state; one instance per process, used from one thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.touch(mode=0o600, exist_ok=True)  # it holds notification URLs with secrets
            self._db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open state file {path}: {exc}") from None
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._depth = 0
        self._firing: dict[str, FiringRow] | None = None  # see ``_firing_alerts``
        self._rollbacks = 0  # transactions undone, part of ``write_mark``
        # The last alert row id given in the transaction under way (None: ask SQLite).
        self._last_alert_id: int | None = None
        # Told how long each durable commit took (the daemon's histogram): a slow disk's
        # fsync holds every batch, and shows here first.
        self.on_commit: Callable[[float], None] | None = None
        self._migrate()

    def close(self) -> None:
        self._db.close()

    # -- schema -----------------------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} has schema version {version}; this sentinel knows "
                f"{len(MIGRATIONS)}: upgrade sentinel"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                for statement in _statements(script):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One atomic unit; nested calls join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            self._firing = None  # it may hold what was rolled back: read it afresh
            self._rollbacks += 1
            raise
        else:
            started = time.perf_counter()
            self._db.execute("COMMIT")
            if self.on_commit is not None:
                self.on_commit(time.perf_counter() - started)
        finally:
            self._depth = 0
            self._last_alert_id = None  # others may insert once the write lock is let go

    def write_mark(self) -> tuple[int, int, int]:
        """Rows this connection has changed since it opened, SQLite's count of commits by
        other connections, and the transactions rolled back here: two equal marks mean
        nothing was written between them, here or by another process (the CLI), and
        nothing read between them was undone, so what was read then still holds."""
        others = self._db.execute("PRAGMA data_version").fetchone()[0]
        return self._db.total_changes, int(others), self._rollbacks

    def _exec(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> sqlite3.Cursor:
        return self._db.execute(sql, params)

    # -- meta -------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self._exec("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._exec(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def save_learned(self, detector: str, body: bytes, now: float) -> None:
        self._exec(
            "INSERT INTO learned (detector, saved_at, body) VALUES (?, ?, ?) ON CONFLICT "
            "(detector) DO UPDATE SET saved_at = excluded.saved_at, body = excluded.body",
            (detector, now, body),
        )

    def learned(self, detector: str) -> bytes:
        row = self._exec("SELECT body FROM learned WHERE detector = ?", (detector,)).fetchone()
        return b"" if row is None else bytes(row[0])

    # -- alerts -----------------------------------------------------------------------------

    def firing_alert_incident(self, fingerprint: str) -> int | None:
        """The incident holding the firing alert with this fingerprint, if any."""
        firing = self._firing_alerts().get(fingerprint)
        if firing is None:
            return None
        row = self._exec(
            "SELECT incident_id FROM alerts WHERE id = ? AND status = 'firing'", (firing[0],)
        ).fetchone()
        return None if row is None else int(row[0])

    def firing_alert_incidents(self, fingerprints: Collection[str]) -> set[int]:
        """The incidents holding the firing alerts with these fingerprints."""
        firing = self._firing_alerts()
        rows = self._firing_rows([firing[f][0] for f in fingerprints if f in firing])
        return {int(incident_id) for _, _, incident_id, _ in rows}

    def _firing_alerts(self) -> dict[str, FiringRow]:
        """Fingerprint -> (row id, ``ends_at``) of every firing alert, read once and kept
        current by this store's own writes (see the module's docstring)."""
        if self._firing is None:
            self._firing = {
                fingerprint: (row_id, ends_at)
                for fingerprint, row_id, ends_at in self._exec(
                    "SELECT fingerprint, id, ends_at FROM alerts WHERE status = 'firing'"
                )
            }
        return self._firing

    def add_alerts(self, incident_id: int, placed: Sequence[Placement], now: float) -> None:
        """Record firing alerts in their incident, in one statement. Each takes the next
        row id, as SQLite would have given it, so the store knows it without asking."""
        firing = self._firing_alerts()
        fingerprints = [p.alert.fingerprint for p in placed]
        if not firing.keys().isdisjoint(fingerprints) or len(set(fingerprints)) < len(placed):
            again = [f for i, f in enumerate(fingerprints) if f in firing or f in fingerprints[:i]]
            raise sqlite3.IntegrityError(f"alert already firing: {again[0]}")
        last, self._last_alert_id = self._last_alert_id, None  # known again once written
        if last is None:  # asked once a transaction, which holds the write lock
            last = self._exec("SELECT coalesce(max(id), 0) FROM alerts").fetchone()[0]
        self._db.executemany(
            "INSERT INTO alerts (id, fingerprint, incident_id, labels, annotations, status, "
            "starts_at, ends_at, source, score, updated_at, generator_url, node, group_key) "
            "VALUES (?,?,?,?,?,'firing',?,?,?,?,?,?,?,?)",
            [
                (
                    row_id,
                    alert.fingerprint,
                    incident_id,
                    _sorted_json(alert.labels),
                    _sorted_json(alert.annotations),
                    alert.starts_at,
                    alert.ends_at,
                    alert.source,
                    alert.score,
                    now,
                    alert.generator_url,
                    node,
                    group_key,
                )
                for row_id, (alert, node, group_key) in enumerate(placed, start=last + 1)
            ],
        )
        firing.update(
            (p.alert.fingerprint, (row_id, p.alert.ends_at))
            for row_id, p in enumerate(placed, start=last + 1)
        )
        if self._depth:
            self._last_alert_id = last + len(placed)

    def refresh_alerts(self, alerts: Sequence[Alert], now: float) -> list[Alert]:
        """Alerts already firing, seen again, get new annotations, score and expiry
        (``ends_at``), all in one statement; returns the others, which are new."""
        firing = self._firing_alerts()
        # A later copy wins; an alert not known to fire is new without asking.
        latest = [
            (firing[a.fingerprint][0], a)
            for a in {a.fingerprint: a for a in alerts}.values()
            if a.fingerprint in firing
        ]
        updated = self._db.executemany(
            "UPDATE alerts SET annotations = ?, score = ?, ends_at = ?, updated_at = ? "
            "WHERE id = ? AND status = 'firing'",
            [(_sorted_json(a.annotations), a.score, a.ends_at, now, i) for i, a in latest],
        ).rowcount
        if updated == len(latest):
            for row_id, alert in latest:
                firing[alert.fingerprint] = (row_id, alert.ends_at)
            return [a for a in alerts if a.fingerprint not in firing]
        # Some were resolved by another process (the CLI) since they were read: new again.
        still = {row[0] for row in self._firing_rows([row_id for row_id, _ in latest])}
        for row_id, alert in latest:
            if row_id in still:
                firing[alert.fingerprint] = (row_id, alert.ends_at)
            else:
                del firing[alert.fingerprint]
        return [a for a in alerts if a.fingerprint not in firing]

    def _firing_rows(self, row_ids: Sequence[int]) -> list[tuple[int, str, int, str]]:
        """(id, fingerprint, incident id, node) of those of ``row_ids`` still firing."""
        found: list[tuple[int, str, int, str]] = []
        for start in range(0, len(row_ids), 500):
            where, params = _in("id", row_ids[start : start + 500])
            found += self._exec(
                "SELECT id, fingerprint, incident_id, node FROM alerts "
                f"WHERE status = 'firing' AND {where}",
                params,
            ).fetchall()
        return found

    def expired_alerts(self, now: float) -> list[Alert]:
        """Firing alerts whose sender stopped re-sending them before their ``ends_at``,
        oldest expiry first. Found in memory: the daemon asks every tick, and nearly
        always nothing is due (a pass over the firing alerts, 0.4 ms for 10,000)."""
        firing = self._firing_alerts()
        due = [f for f, (_, ends) in firing.items() if ends is not None and ends <= now]
        expired: list[Alert] = []
        for start in range(0, len(due), 500):
            where, params = _in("id", [firing[f][0] for f in due[start : start + 500]])
            expired += map(
                _alert,
                self._exec(f"SELECT * FROM alerts WHERE status = 'firing' AND {where}", params),
            )
        for fingerprint in set(due).difference(a.fingerprint for a in expired):
            del firing[fingerprint]  # resolved by another process since it was read
        return sorted(expired, key=lambda a: (a.ends_at or 0.0, a.starts_at))

    def firing_event(self, dedup_key: str) -> Alert | None:
        """The firing alert the events API raised under ``dedup_key``, from the index of
        those alone: a storm sends one event per alert, and each looked for its key
        through every firing alert."""
        row = self._exec(
            f"SELECT * FROM alerts WHERE {_EVENTS} AND {_DEDUP_KEY} = ? LIMIT 1", (dedup_key,)
        ).fetchone()
        return None if row is None else _alert(row)

    def resolve_incident_alerts(self, incident_id: int, ends_at: float, now: float) -> list[str]:
        """Mark every alert still firing in an incident resolved (an incident resolved by
        hand); returns their fingerprints. Found by incident in the file, not by this
        process's memory of what fires, which another process's writes may have outdated."""
        rows = self._exec(
            "UPDATE alerts SET status = 'resolved', ends_at = ?, updated_at = ? "
            "WHERE incident_id = ? AND status = 'firing' RETURNING fingerprint",
            (ends_at, now, incident_id),
        ).fetchall()
        fingerprints = [str(row[0]) for row in rows]
        firing = self._firing_alerts()
        for fingerprint in fingerprints:  # one firing row per fingerprint: this was it
            firing.pop(fingerprint, None)
        return fingerprints

    def resolve_alerts(
        self, ended: Sequence[tuple[str, float]], now: float
    ) -> list[tuple[str, int, str]]:
        """Mark firing alerts resolved, given (fingerprint, ends_at); returns (fingerprint,
        incident id, node) of those that were firing. The rows are read first, then
        updated by id: half the time of one ``UPDATE … FROM (VALUES …) RETURNING``."""
        firing = self._firing_alerts()
        # A later copy wins; an alert not known to fire has nothing to resolve.
        ends_at = {firing.pop(f)[0]: ends for f, ends in dict(ended).items() if f in firing}
        rows = self._firing_rows(list(ends_at))  # less any the CLI resolved meanwhile
        self._db.executemany(
            "UPDATE alerts SET status = 'resolved', ends_at = ?, updated_at = ? WHERE id = ?",
            [(ends_at[row_id], now, row_id) for row_id, *_ in rows],
        )
        return [(fingerprint, int(incident), node) for _, fingerprint, incident, node in rows]

    def recently_resolved_incident(self, fingerprint: str, since: float) -> int | None:
        """The resolved incident this alert last fired in, if that firing ended at or after
        ``since`` (in the alert's own time). Read from the few incidents resolved since then
        (no incident resolved before its alerts ended): the planner would otherwise walk
        every resolved incident ever kept, and every alert they held, for each new one."""
        row = self._exec(
            "SELECT i.id FROM incidents i INDEXED BY incidents_resolved_at "
            "JOIN alerts a ON a.incident_id = i.id "
            "WHERE a.fingerprint = ? AND i.status = 'resolved' AND i.resolved_at >= ? "
            "AND a.ends_at >= ? ORDER BY a.id DESC LIMIT 1",
            (fingerprint, since, since),
        ).fetchone()
        return None if row is None else int(row[0])

    def firing_alerts(self, incident_id: int | None = None) -> list[Alert]:
        sql = "SELECT * FROM alerts WHERE status = 'firing'"
        params: tuple[Any, ...] = ()
        if incident_id is not None:
            sql += " AND incident_id = ?"
            params = (incident_id,)
        return [_alert(r) for r in self._exec(sql + " ORDER BY starts_at, id", params)]

    def firing_alerts_updated(self) -> list[tuple[Alert, float]]:
        """Firing alerts with when each was last received (Alertmanager's ``updatedAt``)."""
        rows = self._exec("SELECT * FROM alerts WHERE status = 'firing' ORDER BY starts_at, id")
        return [(_alert(r), float(r["updated_at"])) for r in rows]

    def alert_rows(self) -> list[tuple[str, int]]:
        """(fingerprint, incident id) of every alert row, oldest first: which incident each
        firing joined, for audits and benchmarks."""
        return [
            (r[0], r[1])
            for r in self._exec("SELECT fingerprint, incident_id FROM alerts ORDER BY id")
        ]

    def has_firing_alert(self, incident_id: int) -> bool:
        row = self._exec(
            "SELECT 1 FROM alerts WHERE incident_id = ? AND status = 'firing' LIMIT 1",
            (incident_id,),
        ).fetchone()
        return row is not None

    def node_representatives(
        self, incident_id: int, nodes: Sequence[str] = ()
    ) -> list[tuple[str, Alert]]:
        """(node, alert): the earliest alert of each node and measure of an incident (alert
        name, metric and statistic), firing or since resolved; of ``nodes`` only, if given.
        What ranking needs: it compares like with like, and an incident's cause is what
        happened in it, not what still fires."""
        where, params = _of_nodes(incident_id, nodes)
        rows = self._exec(
            f"SELECT *, min(starts_at) FROM alerts WHERE {where} "
            "GROUP BY node, json_extract(labels, '$.alertname'), json_extract(labels, '$.metric'),"
            " coalesce(nullif(json_extract(labels, '$.statistic'), ''),"
            " json_extract(labels, '$.quantile')) ORDER BY starts_at",
            params,
        )
        return [(r["node"], _alert(r)) for r in rows]

    def incident_alerts(
        self, incident_id: int, limit: int = -1, offset: int = 0, nodes: Sequence[str] = ()
    ) -> list[Alert]:
        """An incident's alerts (on ``nodes`` only, if given), earliest first (``limit`` -1:
        all of them)."""
        where, params = _of_nodes(incident_id, nodes)
        rows = self._exec(
            f"SELECT * FROM alerts WHERE {where} ORDER BY starts_at, id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_alert(r) for r in rows]

    def incident_alerts_to_read(self, incident_id: int, limit: int = -1) -> list[Alert]:
        """An incident's alerts as a person reads them (``limit`` -1: all of them): the
        firing ones first, earliest first, then the resolved ones, latest ended first."""
        rows = self._exec(
            "SELECT * FROM alerts WHERE incident_id = ? ORDER BY status != 'firing', "
            "CASE WHEN status = 'firing' THEN starts_at ELSE -ends_at END, id LIMIT ?",
            (incident_id, limit),
        )
        return [_alert(r) for r in rows]

    def incident_label_sets(self, incident_id: int) -> list[dict[str, str]]:
        """The distinct label sets of an incident's alerts, earliest first: an instance
        that flapped a thousand times is one of them."""
        rows = self._exec(
            "SELECT labels FROM alerts WHERE incident_id = ? GROUP BY labels "
            "ORDER BY min(starts_at), min(id)",
            (incident_id,),
        )
        return [orjson.loads(r[0]) for r in rows]

    def count_incident_alerts(self, incident_id: int) -> int:
        return self._count("alerts", "incident_id = ?", (incident_id,))

    def alert_counts(self, incident_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
        """(firing, all) alerts of each incident: a queue shows its incidents shrink as
        their alerts resolve. One query for a page of incidents (incidents with none left
        out)."""
        counts: dict[int, tuple[int, int]] = {}
        for start in range(0, len(incident_ids), 500):  # within SQLite's parameter limit
            of_incidents, params = _in("incident_id", incident_ids[start : start + 500])
            rows = self._exec(
                "SELECT incident_id, sum(status = 'firing'), count(*) FROM alerts "
                f"WHERE {of_incidents} GROUP BY incident_id",
                params,
            )
            counts.update({int(i): (int(firing), int(total)) for i, firing, total in rows})
        return counts

    def move_alerts(self, from_ids: Sequence[int], to_id: int) -> int:
        """Move every alert of some incidents to another (a merge); returns how many."""
        if not from_ids:
            return 0
        of_incidents, params = _in("incident_id", from_ids)
        cursor = self._exec(
            f"UPDATE alerts SET incident_id = ? WHERE {of_incidents}", (to_id, *params)
        )
        self._count_services([*from_ids, to_id])
        return int(cursor.rowcount)

    def move_node_alerts(self, from_id: int, nodes: Sequence[str], to_id: int) -> int:
        """Move an incident's alerts on some services to another (a split); how many."""
        where, params = _of_nodes(from_id, nodes)
        cursor = self._exec(f"UPDATE alerts SET incident_id = ? WHERE {where}", (to_id, *params))
        self._count_services([from_id, to_id])
        return int(cursor.rowcount)

    def alerts_moves_version(self) -> int:
        """How many times alerts moved between incidents: what read them kept is stale."""
        return int(self.get_meta("alerts.moves") or 0)

    def _count_services(self, incident_ids: Sequence[int]) -> None:
        """Count ``incident_services`` afresh from the alerts of incidents that alerts
        moved between (triggers follow inserts and status changes, not moves), and count
        the move."""
        self.set_meta("alerts.moves", str(self.alerts_moves_version() + 1))
        of_incidents, params = _in("incident_id", incident_ids)
        self._exec(f"DELETE FROM incident_services WHERE {of_incidents}", params)
        self._exec(
            "INSERT INTO incident_services SELECT incident_id, node, min(starts_at), "
            "sum(status = 'firing'), max(CASE WHEN status != 'firing' THEN ends_at END) "
            f"FROM alerts WHERE {of_incidents} GROUP BY incident_id, node",
            params,
        )

    def add_grouping_hints(self, hints: Sequence[GroupingHint]) -> None:
        """Remember regroupings, one per pair of services (the latest verdict stands), and
        count the change, so the daemon reads them again only when they changed."""
        self._hints_changed()
        self._db.executemany(
            "INSERT INTO grouping_hints (a, b, together, at, actor) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (a, b) DO UPDATE SET together = excluded.together, at = excluded.at, "
            "actor = excluded.actor",
            [(*sorted((h.a, h.b)), int(h.together), h.at, h.actor) for h in hints if h.a != h.b],
        )

    def forget_grouping_hint(self, a: str, b: str) -> bool:
        """Drop what was learned about a pair of services; whether anything was."""
        cursor = self._exec("DELETE FROM grouping_hints WHERE a = ? AND b = ?", sorted((a, b)))
        if cursor.rowcount:
            self._hints_changed()
        return bool(cursor.rowcount)

    def grouping_hints_version(self) -> int:
        return int(self.get_meta("grouping_hints.version") or 0)

    def _hints_changed(self) -> None:
        self.set_meta("grouping_hints.version", str(self.grouping_hints_version() + 1))

    def grouping_hints(self) -> list[GroupingHint]:
        rows = self._exec("SELECT a, b, together, at, actor FROM grouping_hints ORDER BY a, b")
        return [GroupingHint(a, b, bool(together), at, actor) for a, b, together, at, actor in rows]

    def failing_services(self, incident_id: int) -> list[str]:
        """The services with an alert still firing in an incident, by name."""
        rows = self._exec(
            "SELECT DISTINCT node FROM alerts WHERE incident_id = ? AND status = 'firing' "
            "ORDER BY node",
            (incident_id,),
        )
        return [str(r[0]) for r in rows]

    # -- incidents and tickets --------------------------------------------------------------

    def add_incident(self, incident: Incident) -> int:
        cursor = self._exec(
            "INSERT INTO incidents (title, status, priority, impact, urgency, services, "
            "root_causes, policy, created_at, updated_at, escalation_level, escalation_cycle, "
            "next_escalation_at, root_node, began_at, active_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                incident.title,
                incident.status.value,
                incident.priority,
                incident.impact,
                incident.urgency,
                _json(list(incident.services)),
                _dump_root_causes(incident.root_causes),
                incident.policy,
                incident.created_at,
                incident.updated_at,
                incident.escalation_level,
                incident.escalation_cycle,
                incident.next_escalation_at,
                incident.root_causes[0].node if incident.root_causes else "",
                incident.began_at,
                incident.active_at,
            ),
        )
        return int(cursor.lastrowid or 0)

    def update_incident(self, incident_id: int, **fields: Any) -> None:
        if "root_causes" in fields:
            causes = fields["root_causes"]
            fields["root_node"] = causes[0].node if causes else ""
        encoders = {
            "services": lambda v: _json(list(v)),
            "root_causes": _dump_root_causes,
            "status": lambda v: IncidentStatus(v).value,
        }
        columns = ", ".join(f"{name} = ?" for name in fields)
        values = [encoders.get(name, lambda v: v)(value) for name, value in fields.items()]
        self._exec(f"UPDATE incidents SET {columns} WHERE id = ?", (*values, incident_id))

    def incident_updated_at(self, incident_id: int) -> float | None:
        """When the incident last changed: a cheap check that a copy is current."""
        row = self._exec("SELECT updated_at FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        return None if row is None else float(row[0])

    def incident(self, incident_id: int) -> Incident | None:
        row = self._exec("SELECT * FROM incidents WHERE id = ?", (incident_id,)).fetchone()
        return None if row is None else _incident(row)

    def incidents(
        self,
        statuses: Sequence[str] = (),
        priorities: Sequence[str] = (),
        limit: int = 500,
        offset: int = 0,
    ) -> list[Incident]:
        """The queue: highest priority first, then oldest first."""
        where, params = _incident_filter(statuses, priorities)
        rows = self._exec(
            f"SELECT * FROM incidents WHERE {where} "
            f"ORDER BY {_PRIORITY_ORDER}, created_at, id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_incident(r) for r in rows]

    def count_incidents(self, statuses: Sequence[str] = (), priorities: Sequence[str] = ()) -> int:
        """How many incidents ``incidents`` would list without its limit."""
        where, params = _incident_filter(statuses, priorities)
        return self._count("incidents", where, params)

    def incidents_opened_between(self, since: float, until: float) -> list[Incident]:
        rows = self._exec(
            "SELECT * FROM incidents WHERE created_at >= ? AND created_at < ? ORDER BY created_at",
            (since, until),
        )
        return [_incident(r) for r in rows]

    def timeline_kinds(self, incident_ids: Sequence[int]) -> dict[int, set[str]]:
        """The kinds of timeline entries each incident has (escalated, reopened, …)."""
        kinds: dict[int, set[str]] = {}
        for start in range(0, len(incident_ids), 500):
            chunk = list(incident_ids[start : start + 500])
            for incident_id, kind in self._exec(
                "SELECT DISTINCT incident_id, kind FROM timeline WHERE incident_id IN "
                f"({','.join('?' * len(chunk))})",
                chunk,
            ):
                kinds.setdefault(incident_id, set()).add(kind)
        return kinds

    def tickets_of(self, incident_ids: Sequence[int]) -> list[Ticket]:
        tickets: list[Ticket] = []
        for start in range(0, len(incident_ids), 500):
            chunk = list(incident_ids[start : start + 500])
            tickets += [
                _ticket(r)
                for r in self._exec(
                    f"SELECT * FROM tickets WHERE incident_id IN ({','.join('?' * len(chunk))})",
                    chunk,
                )
            ]
        return tickets

    def open_incidents(
        self, group_key: str | None = None, ids: Sequence[int] = ()
    ) -> list[OpenIncident]:
        """Unresolved incidents as correlation places alerts in them: all of them (of
        ``ids`` only, if given), with when each of their services began alerting in them
        and when each that no longer does stopped; or those holding a firing alert with
        ``group_key``, which lie outside the topology and need no services' times."""
        where, params = _in("i.id", ids)
        where += f" AND i.status IN {_WORKED}"
        if group_key is not None:
            where += (
                " AND i.id IN (SELECT incident_id FROM alerts "
                "WHERE group_key = ? AND status = 'firing' AND group_key != '')"
            )
            params.append(group_key)
        rows = self._exec(
            "SELECT i.id, i.root_node, i.updated_at, EXISTS (SELECT 1 FROM alerts a "
            "WHERE a.incident_id = i.id AND a.status = 'firing') AS firing, "
            "coalesce(i.began_at, i.created_at), i.active_at, i.services "
            f"FROM incidents i WHERE {where}",
            params,
        ).fetchall()
        onsets: dict[int, dict[str, float]] = {}
        healed: dict[int, dict[str, float]] = {}
        if group_key is None:
            for incident_id, node, onset, firing, stopped in self._exec(
                "SELECT incident_id, node, onset, firing, ended_at FROM incident_services "
                f"WHERE incident_id IN (SELECT i.id FROM incidents i WHERE {where})",
                params,
            ):
                onsets.setdefault(incident_id, {})[node] = onset
                if not firing and stopped is not None:
                    healed.setdefault(incident_id, {})[node] = stopped
        return [
            OpenIncident(
                r[0],
                r[1],
                r[2],
                bool(r[3]),
                r[4],
                r[5],
                frozenset(orjson.loads(r[6])),
                onsets.get(r[0], {}),
                healed.get(r[0], {}),
            )
            for r in rows
        ]

    def service_states(
        self, incident_ids: Sequence[int], nodes: Collection[str]
    ) -> list[tuple[int, str, bool, float | None]]:
        """(incident, node, whether any of its alerts there fires, when the last that
        stopped there ended) for these incidents' services among ``nodes``: what alerts of
        theirs ending changed, read without the rest of a wide incident's thousands."""
        by_incident, params = _in("incident_id", incident_ids)
        found: list[tuple[int, str, bool, float | None]] = []
        listed = sorted(nodes)
        for start in range(0, len(listed), 500):
            by_node, named = _in("node", listed[start : start + 500])
            found += [
                (int(incident_id), node, bool(firing), ended_at)
                for incident_id, node, firing, ended_at in self._exec(
                    "SELECT incident_id, node, firing, ended_at FROM incident_services "
                    f"WHERE {by_incident} AND {by_node}",
                    [*params, *named],
                )
            ]
        return found

    def resolved_before(self, cutoff: float) -> list[Incident]:
        """Resolved (not yet closed) incidents resolved at or before ``cutoff``."""
        rows = self._exec(
            "SELECT * FROM incidents WHERE status = 'resolved' AND resolved_at <= ? ORDER BY id",
            (cutoff,),
        )
        return [_incident(r) for r in rows]

    def unresolved_incidents(self) -> list[Incident]:
        return self.incidents(statuses=(IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED))

    def due_escalations(self, now: float) -> list[Incident]:
        rows = self._exec(
            "SELECT * FROM incidents WHERE status = 'open' AND next_escalation_at <= ? "
            "ORDER BY next_escalation_at, id",
            (now,),
        )
        return [_incident(r) for r in rows]

    def open_counts_by_priority(self) -> dict[str, int]:
        rows = self._exec(
            f"SELECT priority, count(*) FROM incidents WHERE status IN {_WORKED} "
            f"GROUP BY priority ORDER BY {_PRIORITY_ORDER}"
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def add_ticket(self, ticket: Ticket) -> int:
        cursor = self._exec(
            "INSERT INTO tickets (incident_id, sink, acknowledge_due, resolve_due, external_ref)"
            " VALUES (?,?,?,?,?)",
            (
                ticket.incident_id,
                ticket.sink,
                ticket.acknowledge_due,
                ticket.resolve_due,
                ticket.external_ref,
            ),
        )
        return int(cursor.lastrowid or 0)

    def ticket(self, incident_id: int) -> Ticket | None:
        row = self._exec("SELECT * FROM tickets WHERE incident_id = ?", (incident_id,)).fetchone()
        return None if row is None else _ticket(row)

    def sla_due(self, now: float) -> list[tuple[Incident, Ticket]]:
        """Unresolved incidents whose acknowledge or resolve deadline passed unflagged."""
        rows = self._exec(
            "SELECT t.* FROM incidents i JOIN tickets t ON t.incident_id = i.id "
            f"WHERE i.status IN {_WORKED} AND ("
            "(i.status = 'open' AND t.ack_breached = 0 AND t.acknowledge_due <= ?) "
            "OR (t.resolve_breached = 0 AND t.resolve_due <= ?)) ORDER BY t.id",
            (now, now),
        ).fetchall()
        pairs = []
        for row in rows:
            incident = self.incident(int(row["incident_id"]))
            if incident is not None:
                pairs.append((incident, _ticket(row)))
        return pairs

    def update_ticket(self, incident_id: int, **fields: Any) -> None:
        columns = ", ".join(f"{name} = ?" for name in fields)
        self._exec(
            f"UPDATE tickets SET {columns} WHERE incident_id = ?", (*fields.values(), incident_id)
        )

    # -- timeline ---------------------------------------------------------------------------

    def add_timeline(self, *entries: TimelineEntry) -> None:
        self._db.executemany(
            "INSERT INTO timeline (incident_id, at, kind, text, actor) VALUES (?,?,?,?,?)",
            [(e.incident_id, e.at, e.kind, e.text, e.actor) for e in entries],
        )

    def timeline(self, incident_id: int, limit: int = -1, offset: int = 0) -> list[TimelineEntry]:
        """An incident's timeline, oldest entry first (``limit`` -1: all of it)."""
        rows = self._exec(
            "SELECT * FROM timeline WHERE incident_id = ? ORDER BY at, id LIMIT ? OFFSET ?",
            (incident_id, limit, offset),
        )
        return [
            TimelineEntry(r["incident_id"], r["at"], r["kind"], r["text"], r["actor"]) for r in rows
        ]

    def count_timeline(self, incident_id: int) -> int:
        return self._count("timeline", "incident_id = ?", (incident_id,))

    # -- outbox -----------------------------------------------------------------------------

    def enqueue(
        self,
        *,
        dedup_key: str,
        incident_id: int | None,
        event: str,
        target: str,
        title: str,
        body: str,
        notify_type: str,
        now: float,
        sink: str = "apprise",
    ) -> bool:
        """Queue one delivery; a dedup key seen before queues nothing (returns False)."""
        cursor = self._exec(
            "INSERT OR IGNORE INTO outbox (dedup_key, incident_id, event, sink, target, title, "
            "body, notify_type, next_attempt_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (dedup_key, incident_id, event, sink, target, title, body, notify_type, now, now),
        )
        return cursor.rowcount == 1

    def due_deliveries(self, now: float, limit: int = 100) -> list[OutboxRow]:
        # A row waits while an older row for the same target waits: deliveries keep order.
        rows = self._exec(
            "SELECT * FROM outbox o WHERE status = 'pending' AND next_attempt_at <= ? "
            "AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.target = o.target "
            "AND p.status = 'pending' AND p.id < o.id AND p.next_attempt_at > ?) "
            "ORDER BY id LIMIT ?",
            (now, now, limit),
        )
        return [OutboxRow(**dict(r)) for r in rows]

    def mark_sent(self, row_id: int, now: float) -> None:
        self._exec(
            "UPDATE outbox SET status = 'sent', sent_at = ?, attempts = attempts + 1, "
            "last_error = NULL WHERE id = ?",
            (now, row_id),
        )

    def mark_failed(self, row_id: int, error: str, retry_at: float | None) -> None:
        """Record a failed attempt; ``retry_at=None`` gives up (dead letter)."""
        status = "pending" if retry_at is not None else "dead"
        self._exec(
            "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?, "
            "next_attempt_at = COALESCE(?, next_attempt_at) WHERE id = ?",
            (status, error, retry_at, row_id),
        )

    def outbox(
        self, incident_id: int | None = None, statuses: Sequence[str] = ()
    ) -> list[OutboxRow]:
        sql, params = "SELECT * FROM outbox WHERE 1=1", []
        if incident_id is not None:
            sql += " AND incident_id = ?"
            params.append(incident_id)
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            params += list(statuses)
        return [OutboxRow(**dict(r)) for r in self._exec(sql + " ORDER BY id", params)]

    def requeue(self, row_id: int, now: float) -> bool:
        """Give a dead letter another go now; False if there is no such dead letter."""
        cursor = self._exec(
            "UPDATE outbox SET status = 'pending', next_attempt_at = ? "
            "WHERE id = ? AND status = 'dead'",
            (now, row_id),
        )
        return cursor.rowcount == 1

    def external_ref(self, sink: str, incident_id: int) -> str | None:
        """The id an external desk gave this incident, once created there."""
        row = self._exec(
            "SELECT ref FROM external_refs WHERE sink = ? AND incident_id = ?", (sink, incident_id)
        ).fetchone()
        return None if row is None else str(row[0])

    def set_external_ref(self, sink: str, incident_id: int, ref: str) -> None:
        self._exec(
            "INSERT OR REPLACE INTO external_refs (sink, incident_id, ref) VALUES (?, ?, ?)",
            (sink, incident_id, ref),
        )

    def pending_count(self) -> int:
        return int(self._exec("SELECT count(*) FROM outbox WHERE status = 'pending'").fetchone()[0])

    # -- silences ---------------------------------------------------------------------------

    def save_silence(self, silence: Silence) -> None:
        self._exec(
            "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, "
            "updated_at) VALUES (?,?,?,?,?,?,?) ON CONFLICT (id) DO UPDATE SET "
            "matchers = excluded.matchers, starts_at = excluded.starts_at, "
            "ends_at = excluded.ends_at, created_by = excluded.created_by, "
            "comment = excluded.comment, updated_at = excluded.updated_at",
            (
                silence.id,
                json.dumps([dataclasses.asdict(m) for m in silence.matchers]),
                silence.starts_at,
                silence.ends_at,
                silence.created_by,
                silence.comment,
                silence.updated_at,
            ),
        )

    def silence(self, silence_id: str) -> Silence | None:
        row = self._exec("SELECT * FROM silences WHERE id = ?", (silence_id,)).fetchone()
        return None if row is None else _silence(row)

    def silences(self) -> list[Silence]:
        return [_silence(r) for r in self._exec("SELECT * FROM silences ORDER BY starts_at, id")]

    def active_silences(self, now: float) -> list[Silence]:
        rows = self._exec("SELECT * FROM silences WHERE starts_at <= ? AND ends_at > ?", (now, now))
        return [_silence(r) for r in rows]

    # -- changes ----------------------------------------------------------------------------

    def add_change(self, change: Change) -> int:
        cursor = self._exec(
            "INSERT INTO changes (service, kind, summary, version, author, at) "
            "VALUES (?,?,?,?,?,?)",
            (change.service, change.kind, change.summary, change.version, change.author, change.at),
        )
        return int(cursor.lastrowid or 0)

    def change_recorded(self, change: Change) -> bool:
        """Whether the same change (service, kind, summary, version, author and time) is
        recorded already: a deploy log read again adds only its new lines."""
        row = self._exec(
            "SELECT 1 FROM changes WHERE service = ? AND at = ? AND kind = ? AND summary = ? "
            "AND version = ? AND author = ? LIMIT 1",
            (change.service, change.at, change.kind, change.summary, change.version, change.author),
        ).fetchone()
        return row is not None

    def changes(
        self,
        services: Sequence[str] = (),
        since: float = 0.0,
        until: float = float("inf"),
        limit: int = 500,
        offset: int = 0,
    ) -> list[Change]:
        """Changes in [since, until], latest first."""
        where, params = _change_filter(services, since, until)
        rows = self._exec(
            f"SELECT * FROM changes WHERE {where} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [
            Change(
                r["id"], r["service"], r["kind"], r["summary"], r["at"], r["version"], r["author"]
            )
            for r in rows
        ]

    def count_changes(
        self, services: Sequence[str] = (), since: float = 0.0, until: float = float("inf")
    ) -> int:
        where, params = _change_filter(services, since, until)
        return self._count("changes", where, params)

    @property
    def rows_written(self) -> int:
        """Rows inserted, updated or deleted through this connection since it opened."""
        return self._db.total_changes

    def count(self, table: str) -> int:
        """Rows in one of the store's tables (for status pages and tests)."""
        if table not in _TABLES:
            raise ValueError(f"no table {table!r}")
        return self._count(table)

    def _count(self, table: str, where: str = "1=1", params: Sequence[Any] = ()) -> int:
        return int(self._exec(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0])

    # -- problems ---------------------------------------------------------------------------

    def set_signature(self, incident_id: int, signature: str) -> None:
        self._exec("UPDATE incidents SET signature = ? WHERE id = ?", (signature, incident_id))

    def resolved_with_signature(self, signature: str, since: float) -> list[Incident]:
        """Resolved incidents with this root-cause signature opened since ``since``."""
        rows = self._exec(
            "SELECT * FROM incidents WHERE signature = ? AND created_at >= ? "
            f"AND status IN {_DONE} ORDER BY created_at, id",
            (signature, since),
        )
        return [_incident(r) for r in rows]

    def seen_before(self, signature: str, before: float, limit: int) -> tuple[list[Incident], int]:
        """The latest ``limit`` worked incidents with this root-cause signature opened
        before ``before``, newest first, and how many there are in all."""
        where = f"signature = ? AND created_at < ? AND status IN {_DONE}"
        rows = self._exec(
            f"SELECT * FROM incidents WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?",
            (signature, before, limit),
        )
        return [_incident(r) for r in rows], self._count("incidents", where, (signature, before))

    def add_problem(self, signature: str, now: float) -> int:
        cursor = self._exec(
            "INSERT INTO problems (signature, status, occurrences, first_seen, last_seen, "
            "services) VALUES (?, 'open', 0, ?, ?, '[]')",
            (signature, now, now),
        )
        return int(cursor.lastrowid or 0)

    def link_problem(self, problem_id: int, incidents: Sequence[Incident]) -> None:
        """Link incidents to a problem and fold them into its figures: occurrences count
        the links this adds; first and last seen and the services take in every incident
        given (linking one again, once it resolved, adds the services it gained since).
        Only these incidents are read, so a problem that recurs for years costs each
        recurrence what its first did."""
        if not incidents:
            return
        added = sum(
            self._exec(
                "INSERT OR IGNORE INTO problem_incidents (problem_id, incident_id) VALUES (?, ?)",
                (problem_id, incident.id),
            ).rowcount
            for incident in incidents
        )
        row = self._exec(
            "SELECT occurrences, first_seen, last_seen, services FROM problems WHERE id = ?",
            (problem_id,),
        ).fetchone()
        opened = [i.created_at for i in incidents]
        if row["occurrences"]:  # a new problem's seen times are its own opening's
            opened += [row["first_seen"], row["last_seen"]]
        services = {*orjson.loads(row["services"]), *(s for i in incidents for s in i.services)}
        self.update_problem(
            problem_id,
            occurrences=row["occurrences"] + added,
            first_seen=min(opened),
            last_seen=max(opened),
            services=_json(sorted(services)),
        )

    def unlink_problems(self, incident_ids: Sequence[int]) -> list[int]:
        """Take incidents out of the problems they were counted in and count those
        problems afresh (rare: an incident merged into another, whose trouble it was);
        returns the problems."""
        of_incidents, params = _in("incident_id", incident_ids)
        unlinked = self._exec(
            f"DELETE FROM problem_incidents WHERE {of_incidents} RETURNING problem_id", params
        ).fetchall()
        problems = list(dict.fromkeys(int(r[0]) for r in unlinked))
        linked = "FROM problem_incidents p JOIN incidents i ON i.id = p.incident_id"
        for problem_id in problems:
            occurrences, first_seen, last_seen = self._exec(
                f"SELECT count(*), min(i.created_at), max(i.created_at) {linked} "
                "WHERE p.problem_id = ?",
                (problem_id,),
            ).fetchone()
            services = self._exec(
                f"SELECT DISTINCT s.value {linked}, json_each(i.services) s "
                "WHERE p.problem_id = ? ORDER BY 1",
                (problem_id,),
            )
            seen = {"first_seen": first_seen, "last_seen": last_seen} if occurrences else {}
            self.update_problem(
                problem_id,
                occurrences=occurrences,
                services=_json([r[0] for r in services]),
                **seen,
            )
        return problems

    def is_linked(self, problem_id: int, incident_id: int) -> bool:
        row = self._exec(
            "SELECT 1 FROM problem_incidents WHERE problem_id = ? AND incident_id = ?",
            (problem_id, incident_id),
        ).fetchone()
        return row is not None

    def problem_incident_ids(self, problem_id: int) -> list[int]:
        """Every incident linked to a problem, by id (thousands, for one that recurs for
        long: read only where all of them are asked for)."""
        rows = self._exec(
            "SELECT incident_id FROM problem_incidents WHERE problem_id = ? ORDER BY 1",
            (problem_id,),
        )
        return [int(r[0]) for r in rows]

    def update_problem(self, problem_id: int, **fields: Any) -> None:
        columns = ", ".join(f"{name} = ?" for name in fields)
        self._exec(f"UPDATE problems SET {columns} WHERE id = ?", (*fields.values(), problem_id))

    def problem(self, problem_id: int) -> Problem | None:
        row = self._exec("SELECT * FROM problems WHERE id = ?", (problem_id,)).fetchone()
        return None if row is None else self._problem(row)

    def problem_by_signature(self, signature: str) -> Problem | None:
        row = self._exec("SELECT * FROM problems WHERE signature = ?", (signature,)).fetchone()
        return None if row is None else self._problem(row)

    def problems(
        self, statuses: Sequence[str] = (), limit: int = -1, offset: int = 0
    ) -> list[Problem]:
        """Problems, the latest seen first (``limit`` -1: all of them)."""
        where, params = _in("status", statuses)
        rows = self._exec(
            f"SELECT * FROM problems WHERE {where} ORDER BY last_seen DESC, id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        ).fetchall()
        return [self._problem(r) for r in rows]

    def count_problems(self, statuses: Sequence[str] = ()) -> int:
        where, params = _in("status", statuses)
        return self._count("problems", where, params)

    def _problem(self, row: sqlite3.Row) -> Problem:
        return Problem(
            id=row["id"],
            signature=row["signature"],
            status=row["status"],
            occurrences=row["occurrences"],
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
            services=tuple(orjson.loads(row["services"])),
            workaround=row["workaround"],
            resolved_at=row["resolved_at"],
        )

    def problem_incidents(self, problem_id: int, limit: int = -1) -> list[Incident]:
        """A problem's incidents, the latest first (``limit`` -1: all of them)."""
        rows = self._exec(
            "SELECT i.* FROM problem_incidents p JOIN incidents i ON i.id = p.incident_id "
            "WHERE p.problem_id = ? ORDER BY i.created_at DESC, i.id DESC LIMIT ?",
            (problem_id, limit),
        )
        return [_incident(r) for r in rows]

    def add_problem_timeline(self, problem_id: int, entry: TimelineEntry) -> None:
        self._exec(
            "INSERT INTO problem_timeline (problem_id, at, kind, text, actor) VALUES (?,?,?,?,?)",
            (problem_id, entry.at, entry.kind, entry.text, entry.actor),
        )

    def problem_timeline(self, problem_id: int, latest: int = -1) -> list[TimelineEntry]:
        """A problem's timeline, oldest entry first: its ``latest`` entries (-1: all; it
        takes one per recurrence)."""
        rows = self._exec(
            "SELECT * FROM problem_timeline WHERE problem_id = ? ORDER BY at DESC, id DESC LIMIT ?",
            (problem_id, latest),
        ).fetchall()
        return [
            TimelineEntry(problem_id, r["at"], r["kind"], r["text"], r["actor"])
            for r in reversed(rows)
        ]

    def count_problem_timeline(self, problem_id: int) -> int:
        return self._count("problem_timeline", "problem_id = ?", (problem_id,))


def _silence(row: sqlite3.Row) -> Silence:
    return Silence(
        id=row["id"],
        matchers=tuple(Matcher(**m) for m in json.loads(row["matchers"])),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        created_by=row["created_by"],
        comment=row["comment"],
        updated_at=row["updated_at"],
    )


def _dump_root_causes(causes: Sequence[RootCause]) -> str:
    return _json(
        [
            {"node": c.node, "score": c.score, "evidence": list(c.evidence), "failure": c.failure}
            for c in causes
        ]
    )


def _of_nodes(incident_id: int, nodes: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
    """The condition for an incident's alerts, on ``nodes`` only if any are given."""
    by_node, params = _in("node", nodes)
    return f"incident_id = ? AND {by_node}", (incident_id, *params)


def _alert(row: sqlite3.Row) -> Alert:
    return Alert(
        labels=orjson.loads(row["labels"]),
        annotations=orjson.loads(row["annotations"]),
        status=AlertStatus(row["status"]),
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        source=row["source"],
        score=row["score"],
        generator_url=row["generator_url"],
        fingerprint=row["fingerprint"],
    )


def _incident(row: sqlite3.Row) -> Incident:
    return Incident(
        id=row["id"],
        title=row["title"],
        status=IncidentStatus(row["status"]),
        priority=row["priority"],
        impact=row["impact"],
        urgency=row["urgency"],
        services=tuple(orjson.loads(row["services"])),
        root_causes=tuple(
            RootCause(c["node"], c["score"], tuple(c["evidence"]), c.get("failure", ""))
            for c in orjson.loads(row["root_causes"])
        ),
        policy=row["policy"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        acknowledged_at=row["acknowledged_at"],
        resolved_at=row["resolved_at"],
        escalation_level=row["escalation_level"],
        escalation_cycle=row["escalation_cycle"],
        next_escalation_at=row["next_escalation_at"],
        began_at=row["began_at"],
        active_at=row["active_at"],
    )


def _ticket(row: sqlite3.Row) -> Ticket:
    return Ticket(
        id=row["id"],
        incident_id=row["incident_id"],
        sink=row["sink"],
        acknowledge_due=row["acknowledge_due"],
        resolve_due=row["resolve_due"],
        external_ref=row["external_ref"],
        ack_breached=bool(row["ack_breached"]),
        resolve_breached=bool(row["resolve_breached"]),
    )
