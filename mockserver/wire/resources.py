"""The stateful resources of the API beyond Messages (files, skills, agents, sessions, ...): plain
objects in bounded, ordered collections.

Every resource the mock keeps is a plain ``dict`` shaped as the API sends it (built by the
resource family's own module in ``wire/``); a :class:`Collection` holds the objects of one kind
(or of one kind under one parent, e.g. one agent's versions) in creation order, answers the real
404 for an unknown id, and forgets its oldest object when it is full, so no client can grow the
mock without bound. :class:`Resources` is one server's set of collections, cleared by the control
plane's ``reset``.

Hand-written: a few dictionaries, nothing a library would make shorter.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from datetime import datetime, timezone
from typing import Any

from mockserver.wire.errors import not_found

Obj = dict[str, Any]  # one resource as the API sends it

MAX_OBJECTS = 10_000  # kept per collection; past it the oldest object is forgotten
MAX_COLLECTIONS = 10_000  # sub-collections (one per parent) kept; past it the oldest is forgotten


def timestamp(epoch: float) -> str:
    """An RFC 3339 UTC timestamp with microseconds, as the API's resource objects carry them."""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def missing_message(noun: str, ident: str) -> str:
    """The 404 message for an unknown id of a resource called ``noun`` (e.g. ``"File"``)."""
    return f"{noun} not found: {ident}"


class Collection:
    """The objects of one kind, by id, in creation order (oldest first)."""

    __slots__ = ("_items", "most", "noun")

    def __init__(self, noun: str, *, most: int = MAX_OBJECTS) -> None:
        self.noun = noun  # the resource's name in the 404 message
        self.most = most
        self._items: OrderedDict[str, Obj] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, ident: object) -> bool:
        return ident in self._items

    def __iter__(self) -> Iterator[Obj]:
        return iter(list(self._items.values()))

    def add(self, obj: Obj) -> Obj:
        """Keep ``obj`` under its ``id`` (the oldest object goes when the collection is full)."""
        items = self._items
        items[str(obj["id"])] = obj
        while len(items) > self.most:
            items.popitem(last=False)
        return obj

    def find(self, ident: str) -> Obj | None:
        return self._items.get(ident)

    def get(self, ident: str) -> Obj:
        """The object with id ``ident``; the API's 404 ``not_found_error`` when there is none."""
        found = self._items.get(ident)
        if found is None:
            raise not_found(missing_message(self.noun, ident))
        return found

    def remove(self, ident: str) -> Obj:
        """Forget the object (404 when unknown); returns it."""
        found = self.get(ident)
        del self._items[ident]
        return found

    def newest_first(self) -> list[Obj]:
        return list(reversed(self._items.values()))

    def oldest_first(self) -> list[Obj]:
        return list(self._items.values())

    def where(self, keep: Callable[[Obj], bool]) -> list[Obj]:
        """The objects ``keep`` accepts, newest first (the API's listing order)."""
        return [o for o in reversed(self._items.values()) if keep(o)]


class Resources:
    """One server's collections, each made on first use under its key: a kind (``"file"``) or
    a kind under a parent (``("agent_version", agent_id)``)."""

    __slots__ = ("_collections", "most")

    def __init__(self, *, most: int = MAX_COLLECTIONS) -> None:
        self.most = most
        self._collections: OrderedDict[Hashable, Collection] = OrderedDict()

    def collection(self, key: Hashable, noun: str, *, most: int = MAX_OBJECTS) -> Collection:
        """The collection under ``key`` (made empty the first time)."""
        found = self._collections.get(key)
        if found is None:
            found = self._collections[key] = Collection(noun, most=most)
            while len(self._collections) > self.most:
                self._collections.popitem(last=False)
        return found

    def existing(self, key: Hashable) -> Collection | None:
        """The collection under ``key`` if one was made (a parent with no children has none)."""
        return self._collections.get(key)

    def drop(self, key: Hashable) -> None:
        """Forget a collection (e.g. a deleted parent's children)."""
        self._collections.pop(key, None)

    def clear(self) -> None:
        self._collections.clear()
