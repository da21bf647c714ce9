"""The API's enumerations: what a status, a review state, a stance, a role or a kind may be."""

from enum import StrEnum


class ClaimStatus(StrEnum):
    """The verification status: has it been confirmed?"""

    unverified = "unverified"
    confirmed = "confirmed"
    mostly_true = "mostly_true"
    mixed = "mixed"
    misleading = "misleading"
    mostly_false = "mostly_false"
    false = "false"
    unproven = "unproven"
    not_checkable = "not_checkable"


class ReviewState(StrEnum):
    """The desk's workflow, separate from the status so a re-check never hides a verdict."""

    open = "open"
    in_review = "in_review"
    settled = "settled"


class Stance(StrEnum):
    supports = "supports"
    refutes = "refutes"
    context = "context"


class AppearanceRole(StrEnum):
    origin = "origin"
    report = "report"
    repost = "repost"


class SpeakerKind(StrEnum):
    person = "person"
    organization = "organization"
    government = "government"
    military = "military"
    group = "group"
    unknown = "unknown"


class OutletKind(StrEnum):
    wire = "wire"
    newspaper = "newspaper"
    broadcaster = "broadcaster"
    online = "online"
    social_platform = "social_platform"
    messaging = "messaging"
    government_channel = "government_channel"
    company = "company"
    other = "other"


class ImportFormat(StrEnum):
    records = "records"  # ImportRecord objects (what the export writes)
    claimreview = "claimreview"  # schema.org ClaimReview JSON-LD


class OnDuplicate(StrEnum):
    """What an import does with a new record that is likely a duplicate of a stored claim."""

    create = "create"  # create it, and store the pairs as suggestions
    link = "link"  # create it and link it to the duplicate (confirmed, a revision of both)
    skip = "skip"  # do not create it; the report names the stored claim


class OnError(StrEnum):
    stop = "stop"  # the whole batch is refused if any record fails
    skip = "skip"  # failed records are reported and left out; the rest lands
