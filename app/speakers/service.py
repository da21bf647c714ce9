"""Speaker rules: every write records a revision and keeps the alias search index."""

import operator
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, insert, select
from sqlmodel import Session

from app.core import errors
from app.core.bulk import insert_rows
from app.core.db import Database, in_chunks
from app.core.pages import KeysetList, Page, compare, equals
from app.core.paging import sort_keys
from app.core.rowjson import RowJson
from app.core.text import fold, like_pattern
from app.history.models import EntityType
from app.speakers.models import (
    Speaker,
    SpeakerAlias,
    SpeakerCreate,
    SpeakerQuery,
    SpeakerUpdate,
)
from app.tracked.rows import Row
from app.tracked.service import TrackedService

speaker_table = Speaker.__table__  # type: ignore[attr-defined]
ROWS = RowJson(speaker_table)
alias_table = SpeakerAlias.__table__  # type: ignore[attr-defined]
SORTS = sort_keys(
    speaker_table.c.id, {"name": speaker_table.c.name, "updated_at": speaker_table.c.updated_at}
)


def _clean_aliases(name: str, aliases: list[str]) -> list[str]:
    """Distinct aliases in the given order, without the name itself."""
    seen = {fold(name)}
    kept: list[str] = []
    for alias in aliases:
        key = fold(alias)
        if key and key not in seen:
            seen.add(key)
            kept.append(alias)
    return kept


def _alias_rows(speaker_id: int | None, name: str, aliases: list[str]) -> list[dict[str, Any]]:
    return [
        {"speaker_id": speaker_id, "alias": alias, "folded": fold(alias)[:200]}
        for alias in [name, *aliases]
    ]


class SpeakerService(TrackedService[Speaker, SpeakerCreate, SpeakerUpdate]):
    """Speakers keep their aliases distinct and a folded index of name and aliases."""

    model = Speaker
    entity_type = EntityType.speaker
    update_model = SpeakerUpdate
    not_null = frozenset({"name", "kind", "aliases"})

    def normalize(self, values: dict[str, Any], current: Speaker | None) -> dict[str, Any]:
        """Aliases are stored distinct and without the name itself."""
        if current is None or "name" in values or "aliases" in values:
            name = values.get("name", current.name if current else "")
            aliases = values.get("aliases", current.aliases if current else [])
            values = {**values, "aliases": _clean_aliases(name, aliases)}
        return values

    def after_change(
        self, session: Session, entity: Speaker, before: dict[str, Any] | None
    ) -> None:
        """Rewrite the speaker's rows in the alias index when its name or aliases changed
        (no DELETE on a create: there is nothing to delete)."""
        assert entity.id is not None
        if before is not None:
            if (before["name"], before["aliases"]) == (entity.name, entity.aliases):
                return
            session.exec(delete(alias_table).where(alias_table.c.speaker_id == entity.id))
        rows = _alias_rows(entity.id, entity.name, entity.aliases)
        session.connection().execute(insert(alias_table), rows)

    def after_create_many(self, session: Session, rows: Sequence[Row]) -> None:
        index = [
            alias
            for speaker in rows
            for alias in _alias_rows(speaker["id"], speaker["name"], speaker["aliases"])
        ]
        insert_rows(session.connection(), alias_table, index)


SPEAKERS = SpeakerService()
new_speaker_row = SPEAKERS.new_row
create_speaker = SPEAKERS.create
create_speakers = SPEAKERS.create_many


def find_speaker_ids(session: Session, *, names: Sequence[str]) -> dict[str, int]:
    """{folded name: id} of the live speaker whose name or an alias folds to each name (the
    lowest id if several); names nobody has are left out."""
    found: dict[str, int] = {}
    for chunk in in_chunks(sorted({fold(name) for name in names})):
        statement = (
            select(alias_table.c.folded, func.min(alias_table.c.speaker_id))
            .join(speaker_table, speaker_table.c.id == alias_table.c.speaker_id)
            .where(alias_table.c.folded.in_(chunk), speaker_table.c.deleted_at.is_(None))
            .group_by(alias_table.c.folded)
        )
        found.update((row[0], row[1]) for row in session.connection().execute(statement))
    return found


def find_speaker_id(session: Session, *, name: str) -> int | None:
    """``find_speaker_ids`` for one name."""
    return find_speaker_ids(session, names=[name]).get(fold(name))


def _named(_dialect: str) -> Any:
    """A name or alias of the speaker matches ``:q`` (a LIKE pattern of the folded words)."""
    return exists().where(
        alias_table.c.speaker_id == speaker_table.c.id,
        alias_table.c.folded.like(bindparam("q", type_=alias_table.c.folded.type), escape="\\"),
    )


_s = speaker_table.c
SPEAKER_LIST = KeysetList(
    ROWS,
    SORTS,
    {
        "q": _named,
        "kind": equals(_s.kind, "kind"),
        "country": equals(_s.country, "country"),
        "updated_since": compare(_s.updated_at, operator.ge, "updated_since"),
    },
)


async def list_speakers(database: Database, query: SpeakerQuery) -> Page:
    filters: dict[str, Any] = {}
    if query.q:
        folded = fold(query.q)
        if not folded:
            raise errors.BadRequest("q must contain letters or digits.", field="q")
        filters["q"] = like_pattern(folded)
    for name in ("kind", "country", "updated_since"):
        if (value := getattr(query, name)) is not None:
            filters[name] = value
    return await SPEAKER_LIST.page(database, filters, query.sort, query.cursor, query.limit)
