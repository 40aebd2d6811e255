"""`botrunner migrate from-node`: copy the Node airdrop bot's MongoDB data into botrunner's store.

Invariants:
- Idempotent: every record keeps (or derives, with `keyed_id`) a fixed id and is written insert-only
  (`Store.import_records`), so running again adds only what is new and changes nothing else.
- Resumable: after each batch the last Node `_id` is saved under `migration.node.<collection>` in the
  target's settings; a run that stopped starts after it (a batch cut in half is simply written again).
- Nothing is lost silently: each document either becomes a record, is already there, or is counted as
  unmappable with its Node id and the reason.
- Balances equal ledger sums afterwards: a user whose Node balance differs from the sum of its
  imported ledger rows gets one `import_adjustment` row for the difference, and the report names it.
- `dry_run` reads and maps everything and writes nothing (no records, no checkpoints).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from storage.node_import import mapping
from storage.node_import.mapping import Unmappable
from storage.records import LedgerEntry, User, keyed_id, now

if TYPE_CHECKING:
    from pymongo.database import Database

    from storage.base import Store

EXAMPLES = 20         # unmappable rows and balance differences listed by id; the rest only counted
ADJUSTMENT = "import_adjustment"

#: (report name, Node collection, filter, mapper, botrunner table), after users and their ledger
SIMPLE: list[tuple[str, str, dict[str, Any], Callable[[dict[str, Any]], Any], str]] = [
    ("referrals", "referrals", {}, mapping.referral, "referrals"),
    ("task_submissions", "task_submissions", {}, mapping.submission, "task_submissions"),
    ("transfers", "transfers", {}, mapping.transfer, "transfers"),
    ("withdrawals", "withdrawals", {}, mapping.withdrawal, "withdrawals"),
    ("tickets", "messages", {"type": "support_ticket"}, mapping.ticket, "tickets"),
]


@dataclass
class Counts:
    """One collection's outcome."""

    read: int = 0
    imported: int = 0
    existing: int = 0
    unmappable: int = 0
    examples: list[str] = field(default_factory=list)

    def reject(self, node_id: str, reason: str) -> None:
        self.unmappable += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(f"{node_id}: {reason}")


@dataclass
class Report:
    """What a run did, for the operator (`lines()`)."""

    dry_run: bool
    counts: dict[str, Counts] = field(default_factory=dict)
    bans_applied: int = 0
    nonces_carried: int = 0
    balance_differences: int = 0
    difference_examples: list[str] = field(default_factory=list)
    orphan_ledger_rows: int | None = None

    def of(self, name: str) -> Counts:
        return self.counts.setdefault(name, Counts())

    def lines(self) -> list[str]:
        verb = "would import" if self.dry_run else "imported"
        out = [f"{'Dry run: nothing written. ' if self.dry_run else ''}Node bot data -> botrunner"]
        for name, c in self.counts.items():
            out.append(f"  {name:<20} read {c.read:>9}  {verb} {c.imported:>9}  already there {c.existing:>9}"
                       f"  unmappable {c.unmappable:>7}")
            out += [f"      unmappable {e}" for e in c.examples]
        out.append(f"  live bans applied to users: {self.bans_applied}")
        out.append(f"  claim nonces carried over (the next claim signs a higher one): {self.nonces_carried}")
        if self.orphan_ledger_rows is not None:
            out.append(f"  ledger rows of users not in `users` (not imported): {self.orphan_ledger_rows}")
        out.append(f"  users whose balance differs from their ledger sum: {self.balance_differences}"
                   + (" (each got one import_adjustment ledger row)" if self.balance_differences and not self.dry_run
                      else ""))
        out += [f"      {e}" for e in self.difference_examples]
        return out


class NodeMigration:
    """One run from the Node bot's database `source` (a PyMongo Database) into `store`."""

    def __init__(self, source: Database[Any], store: Store, dry_run: bool = False, batch_size: int = 1000) -> None:
        self.source, self.store, self.dry_run, self.batch_size = source, store, dry_run, batch_size
        self.at = now()
        self.report = Report(dry_run)

    def run(self) -> Report:
        fresh = self._checkpoint("users") is None
        bans = self._bans()
        ledger_seen = self._users(bans)
        for name, collection, query, mapper, table in SIMPLE:
            self._collection(name, collection, query, mapper, table)
        if fresh:
            self.report.orphan_ledger_rows = self.source["point_transactions"].count_documents({}) - ledger_seen
        return self.report

    # ---- users, with their ledger and live bans ----
    def _bans(self) -> dict[int, dict[str, Any]]:
        bans: dict[int, dict[str, Any]] = {}
        for doc in self.source["banned_users"].find({}):
            try:
                found = mapping.live_ban(doc, self.at)
            except Unmappable as exc:
                self.report.of("banned_users").reject(mapping.node_id(doc), str(exc))
                continue
            if found:
                bans[found[0]] = found[1]
        return bans

    def _users(self, bans: dict[int, dict[str, Any]]) -> int:
        counts, seen = self.report.of("users"), 0
        self.report.of("point_transactions")
        for docs in self._batches("users", "users", {}):
            users = []
            for doc in docs:
                try:
                    uid = mapping.telegram_id(mapping.first(doc, "telegramId", "id", "userId", "_id"))
                    users.append(mapping.user(doc, bans.get(uid), self.at))
                except Unmappable as exc:
                    counts.reject(mapping.node_id(doc), str(exc))
            self.report.bans_applied += sum(1 for u in users if u.banned and u.id in bans)
            ledger, seen_now = self._ledger_for(users)
            seen += seen_now
            refused = {u.id for u in self._write("users", "users", users)}
            # a user the store refused (a clashing referral code or wallet) gets no ledger rows either
            self._write("point_transactions", "point_transactions", [e for e in ledger if e.user_id not in refused])
            self._nonces(docs)
            self._save_checkpoint("users", docs[-1]["_id"])
        return seen

    def _nonces(self, docs: list[dict[str, Any]]) -> None:
        """Claim nonces the Node bot used: botrunner's next claim for that user must be above them."""
        for doc in docs:
            try:
                uid = mapping.telegram_id(mapping.first(doc, "telegramId", "id", "userId", "_id"))
                nonce = mapping.last_nonce(doc)
            except Unmappable:
                continue                      # the user itself was reported
            if nonce and not self.dry_run and self.store.claims.import_last_nonce(uid, nonce):
                self.report.nonces_carried += 1
            elif nonce and self.dry_run:
                self.report.nonces_carried += 1

    def _ledger_for(self, users: list) -> tuple[list[LedgerEntry], int]:
        """The batch's ledger rows in time order with running balances, plus adjustments."""
        by_user: dict[int, list[LedgerEntry]] = {u.id: [] for u in users}
        ids = list(by_user)
        counts, seen = self.report.of("point_transactions"), 0
        for doc in self.source["point_transactions"].find({"userId": {"$in": ids + [str(i) for i in ids]}}):
            seen += 1
            counts.read += 1
            try:
                entry = mapping.ledger(doc)
            except Unmappable as exc:
                counts.reject(mapping.node_id(doc), str(exc))
                continue
            by_user[entry.user_id].append(entry)
        out = []
        for user in users:
            out += self._with_balances(user, sorted(by_user[user.id], key=lambda e: (e.created_at, e.id)))
        return out, seen

    def _with_balances(self, user: User, entries: list[LedgerEntry]) -> list[LedgerEntry]:
        balance, out = 0, []
        for entry in entries:
            balance += entry.amount
            out.append(replace(entry, balance_after=balance))
        if balance != user.points:
            self.report.balance_differences += 1
            if len(self.report.difference_examples) < EXAMPLES:
                self.report.difference_examples.append(
                    f"user {user.id}: balance {user.points}, ledger sum {balance}")
            out.append(LedgerEntry(keyed_id(f"node:adjust:{user.id}"), user.id, user.points - balance, ADJUSTMENT,
                                   "balance carried over from the Node bot", user.points, self.at))
        return out

    # ---- the other collections ----
    def _collection(self, name: str, collection: str, query: dict[str, Any], mapper: Callable[..., Any],
                    table: str) -> None:
        counts = self.report.of(name)
        for docs in self._batches(name, collection, query):
            records = []
            for doc in docs:
                try:
                    records.append(mapper(doc))
                except Unmappable as exc:
                    counts.reject(mapping.node_id(doc), str(exc))
            self._write(name, table, records)
            self._save_checkpoint(name, docs[-1]["_id"])

    def _write(self, name: str, table: str, records: list) -> list:
        """Import `records`; returns the ones the store refused (already counted as unmappable)."""
        counts = self.report.of(name)
        if self.dry_run:
            counts.imported += len(records)
            return []
        inserted, rejected = self.store.import_records(table, records)
        counts.imported += inserted
        counts.existing += len(records) - inserted - len(rejected)
        for record, reason in rejected:
            counts.reject(str(getattr(record, "id", getattr(record, "referred_id", "?"))), reason)
        return [record for record, _ in rejected]

    # ---- streaming and checkpoints ----
    def _batches(self, name: str, collection: str, query: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        after = self._checkpoint(name)
        if after is not None:
            query = {**query, "_id": {"$gt": after}}
        cursor = self.source[collection].find(query).sort("_id", 1).batch_size(self.batch_size)
        counts, batch = self.report.of(name), []
        for doc in cursor:
            counts.read += 1
            batch.append(doc)
            if len(batch) >= self.batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _checkpoint(self, name: str) -> Any:
        saved = None if self.dry_run else self.store.settings.get(f"migration.node.{name}")
        if saved is None:
            return None
        return ObjectId(saved["value"]) if saved["type"] == "oid" else saved["value"]

    def _save_checkpoint(self, name: str, last_id: Any) -> None:
        if not self.dry_run:
            value = {"type": "oid", "value": str(last_id)} if isinstance(last_id, ObjectId) else {
                "type": "raw", "value": last_id}
            self.store.settings.set(f"migration.node.{name}", value)
