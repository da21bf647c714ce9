"""Request bodies shared by every tracked entity's routes."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.vocabulary.types import MAX_ID

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Reason


class RevertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_version: int = Field(ge=1, le=MAX_ID, description="The version whose values to bring back.")
    reason: Reason
