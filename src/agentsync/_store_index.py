"""The store's local indexes: key order and the semantic (vector) index.

Key order: the live keys of each namespace in first-write order (the order InMemoryStore's
search lists them in), and a change number per key, bumped on every change, so a vector
embedded outside the store's lock is dropped if its key changed again meanwhile.

Semantic index: configured as LangGraph's stores configure theirs. `fields`
(InMemoryStore, PostgresStore) or `text_fields` (SqliteStore) name the paths embedded by
default (`"$"` or none: the whole value); `distance_type` (PostgresStore) picks the score
(`_query.similarity`); `ann_index_config` tunes PostgresStore's pgvector index, which has
no counterpart in memory, so it is accepted and ignored. Any other key is refused: a typo
would otherwise silently embed the whole value.

Not thread-safe on their own: the store calls them under its lock, except embedding,
which runs outside it (`embed_*` return vectors; `keep` stores them under the lock).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal, TypeAlias, cast

from langchain_core.embeddings import Embeddings
from langgraph.store.base import IndexConfig, SearchOp, ensure_embeddings

from ._query import (
    DISTANCE_TYPES,
    DistanceType,
    IndexPaths,
    index_paths,
    rank_by_similarity,
    texts_to_embed,
)
from ._types import Namespace

__all__ = ["INDEX_CONFIG_KEYS", "EmbedJob", "KeyOrder", "SemanticIndex", "check_index_config"]

Key: TypeAlias = tuple[Namespace, str]

INDEX_CONFIG_KEYS: Final = (
    "dims",
    "embed",
    "fields",
    "text_fields",
    "distance_type",
    "ann_index_config",
)
"""The index config keys LangGraph's stores accept between them."""

_DERIVED_KEYS: Final = frozenset({"__tokenized_fields", "__estimated_num_vectors"})
"""Keys LangGraph's stores (and this one) add to their own `index_config`; a config copied
from another store carries them, and they are recomputed here."""


def check_index_config(index: Mapping[str, Any]) -> tuple[list[str] | None, DistanceType]:
    """The paths to embed by default (None: the whole value) and the distance type.

    ValueError or TypeError naming the offending key, for anything a LangGraph store
    would not accept or this store would silently misread.
    """
    if not isinstance(index, Mapping):
        raise TypeError(f"index must be a dict (IndexConfig), got {type(index).__name__}")
    unknown = sorted(str(k) for k in index if k not in INDEX_CONFIG_KEYS and k not in _DERIVED_KEYS)
    if unknown:
        raise ValueError(
            f"index config: unknown key(s) {', '.join(map(repr, unknown))}; "
            f"expected {', '.join(INDEX_CONFIG_KEYS)}"
        )
    fields = _paths(index, "fields")
    text_fields = _paths(index, "text_fields")
    if fields is not None and text_fields is not None and fields != text_fields:
        raise ValueError(
            "index config: 'fields' and 'text_fields' name the same setting (text_fields is "
            f"SqliteStore's spelling) and disagree: {fields!r} vs {text_fields!r}; give one"
        )
    distance = index.get("distance_type")
    if distance is None:
        distance = "cosine"
    if distance not in DISTANCE_TYPES:
        raise ValueError(
            f"index config: distance_type must be one of {', '.join(DISTANCE_TYPES)}, "
            f"got {distance!r}"
        )
    ann = index.get("ann_index_config")
    if ann is not None and not isinstance(ann, Mapping):
        raise TypeError(f"index config: ann_index_config must be a dict, got {type(ann).__name__}")
    return (fields if fields is not None else text_fields), cast(DistanceType, distance)


def _paths(index: Mapping[str, Any], name: str) -> list[str] | None:
    paths = index.get(name)
    if paths is None:
        return None
    if isinstance(paths, str):  # SqliteStore takes a single path as a string
        return [paths]
    if not isinstance(paths, list | tuple) or not all(isinstance(p, str) for p in paths):
        raise TypeError(f"index config: {name} must be a list of path strings, got {paths!r}")
    return list(paths)


@dataclass(slots=True)
class EmbedJob:
    """Texts to embed for a key, as of its change number `change`."""

    key: Key
    change: int
    texts: list[tuple[str, str]]


class KeyOrder:
    """Live keys per namespace in creation order, and each key's change number.

    Within a namespace keys are listed by when they were created (then by name), which on
    one replica is InMemoryStore's first-write order and is the same on every replica:
    keys created concurrently elsewhere arrive in any order, and are sorted into place
    when next listed. `namespaces` is read directly by the store's hot read path; an
    emptied namespace keeps its slot (and its place in the order), as in InMemoryStore.
    """

    __slots__ = ("_changes", "_created", "_last", "_unsorted", "namespaces")

    def __init__(self) -> None:
        self.namespaces: dict[Namespace, dict[str, None]] = {}
        self._changes: dict[Key, int] = {}
        self._created: dict[Key, tuple[datetime, str]] = {}
        self._unsorted: set[Namespace] = set()  # a key arrived before one created earlier
        self._last = 0

    def changed(self, key: Key, created: Callable[[Key], datetime]) -> int:
        """Record that live `key` changed; returns its new change number. `created`: when
        a key was created (asked only of a key new here)."""
        namespace, name = key
        keys = self.namespaces.get(namespace)
        if keys is None:
            keys = self.namespaces[namespace] = {}
        if name not in keys:
            rank = (created(key), name)
            if keys:
                last = self._created.get((namespace, next(reversed(keys))))
                if last is not None and rank < last:
                    self._unsorted.add(namespace)
            keys[name] = None
            self._created[key] = rank
        self._last += 1
        self._changes[key] = self._last
        return self._last

    def removed(self, key: Key) -> None:
        keys = self.namespaces.get(key[0])
        if keys is not None:
            keys.pop(key[1], None)
        self._changes.pop(key, None)
        self._created.pop(key, None)

    def change_of(self, key: Key) -> int | None:
        return self._changes.get(key)

    def under(self, prefix: Namespace) -> Iterator[Key]:
        """Live keys whose namespace starts with `prefix`, in search order."""
        n = len(prefix)
        for namespace, keys in self.namespaces.items():
            if namespace[:n] == prefix:
                if namespace in self._unsorted:
                    self._sort(namespace, keys)
                for name in keys:
                    yield namespace, name

    def _sort(self, namespace: Namespace, keys: dict[str, None]) -> None:
        created = self._created
        ordered = sorted(keys, key=lambda name: created[(namespace, name)])
        keys.clear()  # (in place: the store's read path holds this dict)
        keys.update(dict.fromkeys(ordered))
        self._unsorted.discard(namespace)


class SemanticIndex:
    """Embeds written values and search queries, keeps live keys' vectors, ranks a search."""

    __slots__ = ("_vectors", "config", "distance", "embeddings", "paths")

    def __init__(self, index: Mapping[str, Any]) -> None:
        fields, self.distance = check_index_config(index)
        self.embeddings: Embeddings = ensure_embeddings(index.get("embed"))
        self.paths: IndexPaths = index_paths(fields)
        # the config as given; InMemoryStore and SqliteStore keep the tokenized paths in it
        # and code may look there
        config = dict(index)
        config["__tokenized_fields"] = self.paths
        self.config = cast(IndexConfig, config)
        self._vectors: dict[Key, dict[str, list[float]]] = {}

    # -- writes --------------------------------------------------------------------------

    def paths_for(self, index: Literal[False] | list[str] | None) -> IndexPaths | None:
        """A put's `index=` argument: False embeds nothing, None the configured paths."""
        if index is False:
            return None
        return self.paths if index is None else index_paths(index)

    @staticmethod
    def job(key: Key, change: int, value: Mapping[str, Any], paths: IndexPaths) -> EmbedJob | None:
        texts = texts_to_embed(value, paths)
        return EmbedJob(key, change, texts) if texts else None

    @staticmethod
    def _unique_texts(jobs: Sequence[EmbedJob]) -> list[str]:
        return list(dict.fromkeys([text for job in jobs for _, text in job.texts]))

    def embed_documents(self, jobs: Sequence[EmbedJob]) -> tuple[list[str], list[list[float]]]:
        texts = self._unique_texts(jobs)
        vectors = self.embeddings.embed_documents(texts) if texts else []
        return texts, [list(v) for v in vectors]

    async def aembed_documents(
        self, jobs: Sequence[EmbedJob]
    ) -> tuple[list[str], list[list[float]]]:
        texts = self._unique_texts(jobs)
        vectors = await self.embeddings.aembed_documents(texts) if texts else []
        return texts, [list(v) for v in vectors]

    def keep(
        self,
        jobs: Iterable[EmbedJob],
        texts: Sequence[str],
        vectors: Sequence[list[float]],
        order: KeyOrder,
    ) -> None:
        """Store embedded vectors, except for keys that changed again meanwhile (that
        change brings its own). Under the store's lock."""
        if len(vectors) != len(texts):
            raise ValueError(
                f"embedding function returned {len(vectors)} vectors for {len(texts)} texts"
            )
        by_text = dict(zip(texts, vectors, strict=True))
        for job in jobs:
            if order.change_of(job.key) != job.change:
                continue
            slot = self._vectors.setdefault(job.key, {})
            for name, text in job.texts:
                slot[name] = by_text[text]

    def forget(self, key: Key) -> None:
        self._vectors.pop(key, None)

    # -- searches ------------------------------------------------------------------------

    @staticmethod
    def queries(searches: Iterable[SearchOp]) -> list[str]:
        return list(dict.fromkeys([op.query for op in searches if op.query]))

    def embed_queries(self, queries: Sequence[str]) -> dict[str, list[float]]:
        return {q: list(self.embeddings.embed_query(q)) for q in queries}

    async def aembed_queries(self, queries: Sequence[str]) -> dict[str, list[float]]:
        return {q: list(await self.embeddings.aembed_query(q)) for q in queries}

    def vectors(self, key: Key) -> list[list[float]]:
        found = self._vectors.get(key)
        return list(found.values()) if found else []

    def rank(
        self,
        candidates: Sequence[tuple[Key, list[list[float]]]],
        query: Sequence[float],
        *,
        offset: int,
        limit: int,
    ) -> list[tuple[float | None, Key]]:
        return rank_by_similarity(
            candidates,
            query,
            key=lambda k: k,
            offset=offset,
            limit=limit,
            distance=self.distance,
        )
