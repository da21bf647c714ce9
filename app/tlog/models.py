"""The transparency log's tables and its answers on the wire.

``tlog_leaf`` names the revision at each leaf index (in change-feed order); ``tlog_node`` holds
the hash of every complete subtree, leaves (level 0) included. Both are append-only, like
``revision``: the appender only inserts (docs/history.md, "The transparency log").
"""

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, Integer, LargeBinary, SmallInteger
from sqlmodel import Field as ModelField
from sqlmodel import SQLModel

from app.history.models import VerifyReport

# A rowid alias on SQLite (as the revision's id), a bigint on PostgreSQL.
LeafIndex = BigInteger().with_variant(Integer(), "sqlite")


class TlogLeaf(SQLModel, table=True):
    __tablename__ = "tlog_leaf"

    leaf_index: int = ModelField(sa_column=Column(LeafIndex, primary_key=True, autoincrement=False))
    revision_id: int = ModelField(sa_column=Column(BigInteger, nullable=False, unique=True))


class TlogNode(SQLModel, table=True):
    __tablename__ = "tlog_node"

    level: int = ModelField(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    node_index: int = ModelField(
        sa_column=Column(BigInteger, primary_key=True, autoincrement=False)
    )
    hash: bytes = ModelField(sa_column=Column(LargeBinary(32), nullable=False))


HEX_HASH = r"^[0-9a-f]{64}$"


class InclusionProof(BaseModel):
    revision_id: int
    leaf_index: int = Field(description="The revision's place in the log, from 0.")
    tree_size: int
    leaf_hash: str = Field(
        pattern=HEX_HASH, description="SHA-256(0x00 ‖ the revision's hash), hex."
    )
    audit_path: list[str] = Field(description="RFC 9162 §2.1.3 inclusion proof, hex hashes.")


class ConsistencyProof(BaseModel):
    first: int
    second: int
    proof: list[str] = Field(description="RFC 9162 §2.1.4 consistency proof, hex hashes.")


class CurrentCheckpoint(BaseModel):
    """The log's current checkpoint, for pages and reports that show it."""

    origin: str
    tree_size: int
    root_hash: str = Field(description="The tree's root hash, base64 (as in the checkpoint).")
    signed_note: str = Field(description="The checkpoint as a C2SP signed note.")
    verifier_key: str = Field(description="The note verifier key that checks it.")


class LogReport(BaseModel):
    """What the transparency log check found (``app.tlog.verify``)."""

    ok: bool
    tree_size: int = Field(description="Leaves in the log.")
    pending: int = Field(description="Revisions waiting for the appender.")
    checkpoint_size: int | None = Field(
        description="The size of the checkpoint checked against, if one was given."
    )
    problem: str | None


class HistoryReport(VerifyReport):
    """The verifier's report: the hash chains, the transparency log, the current checkpoint
    (null when the server has no signing key)."""

    log: LogReport
    checkpoint: CurrentCheckpoint | None
