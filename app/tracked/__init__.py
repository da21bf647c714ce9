"""The tracked-entity kit: what every versioned, soft-deleted entity with a history shares.

- ``models``: the ``Tracked`` mixin (version, head hash, timestamps, soft delete).
- ``versions``: ``Expected``, the version a caller's precondition names, and its check.
- ``lookup``: loading for a read or a write, and the one 404/410 rule.
- ``values``: what a PATCH sets, required reasons, an old version's values for a revert.
- ``rows``: batch writes as plain rows (one INSERT for many entities).
- ``guard``: the session hook refusing bulk UPDATE/DELETE on tracked tables.
- ``service``: ``TrackedService``, the one subclassable service a domain builds on.

It imports the ledger (``app.history``) and ``app.core``; nothing of the web.
"""
