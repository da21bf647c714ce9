from typing import Annotated

from fastapi import Depends

from app.claims.models import Claim
from app.tracked.lookup import get_entity
from app.web.dependencies import EntityId, SessionDep


def get_current_claim(session: SessionDep, entity_id: EntityId) -> Claim:
    """The live claim named in the path: 404 if unknown, 410 if deleted."""
    return get_entity(session, Claim, entity_id)


CurrentClaim = Annotated[Claim, Depends(get_current_claim)]
