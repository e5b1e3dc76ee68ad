"""Table key schemas and secondary indexes: declared by the user or learned from DescribeTable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from cloudorm.errors import InvalidInput
from cloudorm.nosql.codec import check_text

KEY_TYPES = ("S", "N", "B")
MAX_LOCAL_INDEXES = 5
"""DynamoDB allows at most 5 local secondary indexes per table."""
MAX_GLOBAL_INDEXES = 20
"""DynamoDB's default quota of global secondary indexes per table."""
MAX_PROJECTED = 100
"""DynamoDB's limit on projected non-key attributes, summed over all secondary indexes of a table."""
MAX_HASH_KEY_BYTES = 2048
"""DynamoDB's limit on a hash (partition) key value of type S or B, in bytes (UTF-8 for S)."""
MAX_RANGE_KEY_BYTES = 1024
"""DynamoDB's limit on a range (sort) key value of type S or B, in bytes (UTF-8 for S)."""

_KEY_PYTHON_TYPES: dict[str, tuple[type, ...]] = {"S": (str,), "N": (int, float, Decimal),
                                                   "B": (bytes, bytearray, memoryview)}
_TYPE_NAMES = {"S": "str", "N": "a number", "B": "bytes"}


@attrs.frozen
class KeyAttr:
    """A key attribute: its name and DynamoDB scalar type (``S``, ``N`` or ``B``)."""

    name: str
    type: str = "S"


def key_attr(spec: Any, field: str) -> KeyAttr:
    """Read ``("customer", "S")``, ``"customer"`` (type S) or a ``KeyAttr``; errors name ``field``."""
    if isinstance(spec, KeyAttr):
        return spec
    if isinstance(spec, str):
        spec = (spec, "S")
    if not isinstance(spec, (tuple, list)) or len(spec) != 2 or not isinstance(spec[0], str) or not spec[0]:
        raise InvalidInput(field, f"must be (name, type) like ('customer', 'S'), not {spec!r}")
    name, kind = spec
    check_text(name, field)
    if kind not in KEY_TYPES:
        raise InvalidInput(field, f"key type must be one of {', '.join(KEY_TYPES)}, not {kind!r}")
    return KeyAttr(name, kind)


def check_key_value(attr: KeyAttr, value: Any, field: str | None = None) -> None:
    """``InvalidInput`` naming ``field`` (default the attribute) unless ``value`` fits key attribute ``attr``'s
    type (a key value in its stored form: str for ``S``, a number for ``N``, bytes for ``B``)."""
    if isinstance(value, bool) or not isinstance(value, _KEY_PYTHON_TYPES[attr.type]):
        raise InvalidInput(field or attr.name, f"key attribute {attr.name!r} is of type {attr.type} and takes "
                                               f"{_TYPE_NAMES[attr.type]}, not {type(value).__name__} {value!r}")


def check_key_size(attr: KeyAttr, value: Any, limit: int, field: str | None = None) -> None:
    """``InvalidInput`` naming ``field`` (default the attribute) when string or binary key value ``value`` is over
    ``limit`` bytes (``MAX_HASH_KEY_BYTES`` or ``MAX_RANGE_KEY_BYTES``), which DynamoDB refuses."""
    if isinstance(value, str):
        size = len(value.encode("utf-8", "surrogatepass"))  # (text UTF-8 cannot carry is refused later)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        size = len(bytes(value))
    else:
        return  # (a number key is limited by its digits, checked with the number)
    if size > limit:
        role = "hash" if limit == MAX_HASH_KEY_BYTES else "range"
        raise InvalidInput(field or attr.name, f"key attribute {attr.name!r} is {size:,} bytes; DynamoDB takes "
                                               f"at most {limit:,} bytes for a {role} key value")


def hash_key_attr(spec: Any) -> KeyAttr:
    """Converter for ``hash_key`` arguments."""
    return key_attr(spec, "hash_key")


def range_key_attr(spec: Any) -> KeyAttr:
    """Converter for ``range_key`` arguments."""
    return key_attr(spec, "range_key")


def optional_hash_key_attr(spec: Any) -> KeyAttr | None:
    """Converter for an optional ``hash_key`` argument."""
    return None if spec is None else key_attr(spec, "hash_key")


def optional_range_key_attr(spec: Any) -> KeyAttr | None:
    """Converter for an optional ``range_key`` argument."""
    return None if spec is None else key_attr(spec, "range_key")


def check_name(name: Any, field: str = "name") -> str:
    """A table or index name: 3 to 255 of a-z, A-Z, 0-9, ``_``, ``-`` and ``.`` (``InvalidInput`` otherwise)."""
    if not isinstance(name, str) or not 3 <= len(name) <= 255:
        raise InvalidInput(field, f"a table or index name has 3 to 255 characters, got {name!r}")
    if not all((c.isalnum() and c.isascii()) or c in "_-." for c in name):
        raise InvalidInput(field, f"{name!r} may only hold a-z, A-Z, 0-9, '_', '-' and '.'")
    return name


def index_name(name: Any) -> str:
    """Converter for index names."""
    return check_name(name, "index")


def _positive_int(field: str) -> Any:
    def check(_: Any, __: Any, value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise InvalidInput(field, f"must be a positive int, not {value!r}")
    return check


@attrs.frozen
class Provisioned:
    """Provisioned throughput (read and write capacity units); the default billing is on demand."""

    read: int = attrs.field(validator=_positive_int("read"))
    write: int = attrs.field(validator=_positive_int("write"))

    def wire(self) -> dict[str, int]:
        """As DynamoDB's ProvisionedThroughput."""
        return {"ReadCapacityUnits": self.read, "WriteCapacityUnits": self.write}


ON_DEMAND = "PAY_PER_REQUEST"
Billing = str | Provisioned


def _projection(value: Any) -> str | tuple[str, ...]:
    if value in ("ALL", "KEYS_ONLY"):
        return str(value)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) and v for v in value):
        return tuple(check_text(v, "projection") for v in value)
    raise InvalidInput("projection", f"must be 'ALL', 'KEYS_ONLY' or a list of attribute names, not {value!r}")


@attrs.frozen
class GlobalIndex:
    """A global secondary index: its own hash (and optional range) key, queried with ``.index(name)``."""

    name: str = attrs.field(converter=index_name)
    hash_key: KeyAttr = attrs.field(converter=hash_key_attr)
    range_key: KeyAttr | None = attrs.field(default=None, converter=optional_range_key_attr)
    projection: str | tuple[str, ...] = attrs.field(default="ALL", converter=_projection)
    throughput: Provisioned | None = None

    @property
    def local(self) -> bool:
        """False: a global index."""
        return False


@attrs.frozen
class LocalIndex:
    """A local secondary index: the table's hash key with another range key; made only at table creation."""

    name: str = attrs.field(converter=index_name)
    range_key: KeyAttr = attrs.field(converter=range_key_attr)
    projection: str | tuple[str, ...] = attrs.field(default="ALL", converter=_projection)

    @property
    def local(self) -> bool:
        """True: a local index."""
        return True


Index = GlobalIndex | LocalIndex


def check_indexes(value: Any) -> tuple[Index, ...] | None:
    """Index declarations: GlobalIndex/LocalIndex objects with unique names (``None``: not declared)."""
    if value is None:
        return None
    out = tuple(value)
    for ix in out:
        if not isinstance(ix, (GlobalIndex, LocalIndex)):
            raise InvalidInput("indexes", f"expected GlobalIndex or LocalIndex, got {ix!r}")
    names = [ix.name for ix in out]
    if len(set(names)) != len(names):
        raise InvalidInput("indexes", f"index names must be unique: {names}")
    return out


@attrs.frozen
class IndexKeys:
    """The key attributes of the table or of one index, as queries need them."""

    hash_key: KeyAttr
    range_key: KeyAttr | None
    name: str | None = None
    local: bool = False

    @property
    def names(self) -> tuple[str, ...]:
        """Key attribute names, hash first."""
        return (self.hash_key.name,) if self.range_key is None else (self.hash_key.name, self.range_key.name)


@attrs.frozen
class TableSchema:
    """A table's key attributes and indexes."""

    hash_key: KeyAttr
    range_key: KeyAttr | None = None
    indexes: tuple[Index, ...] = ()

    @property
    def keys(self) -> IndexKeys:
        """The table's primary key."""
        return IndexKeys(self.hash_key, self.range_key)

    @property
    def key_names(self) -> tuple[str, ...]:
        """Primary key attribute names, hash first."""
        return self.keys.names

    def index(self, name: str) -> IndexKeys:
        """The keys of index ``name`` (``InvalidInput`` when the table has no such index)."""
        for ix in self.indexes:
            if ix.name == name:
                if isinstance(ix, LocalIndex):
                    return IndexKeys(self.hash_key, ix.range_key, name, True)
                return IndexKeys(ix.hash_key, ix.range_key, name, False)
        known = ", ".join(ix.name for ix in self.indexes) or "none"
        raise InvalidInput("index", f"the table has no index {name!r} (its indexes: {known})")

    def all_key_names(self, index: str | None) -> tuple[str, ...]:
        """Table key names plus the index's key names: what identifies a position in that index."""
        names = list(self.key_names)
        if index is not None:
            names += [n for n in self.index(index).names if n not in names]
        return tuple(names)

    def check(self, billing: Billing) -> None:
        """Refuse (``InvalidInput``) a declaration DynamoDB's CreateTable would reject: a local index on a table
        without a range key, an index whose range key is its hash key, more than 5 local or 20 global indexes,
        more than 100 projected attributes, index throughput on an on-demand table, conflicting key types."""
        local = [ix for ix in self.indexes if isinstance(ix, LocalIndex)]
        if local and self.range_key is None:
            raise InvalidInput("indexes", f"local index {local[0].name!r} needs a table with a range key: a local "
                                          "index shares the table's hash key and sorts by another attribute")
        if len(local) > MAX_LOCAL_INDEXES:
            raise InvalidInput("indexes", f"a table has at most {MAX_LOCAL_INDEXES} local indexes, got {len(local)}")
        if len(self.indexes) - len(local) > MAX_GLOBAL_INDEXES:
            raise InvalidInput("indexes", f"a table has at most {MAX_GLOBAL_INDEXES} global indexes, "
                                          f"got {len(self.indexes) - len(local)}")
        projected = 0
        for ix in self.indexes:
            hash_key = self.hash_key if isinstance(ix, LocalIndex) else ix.hash_key
            if ix.range_key is not None and ix.range_key.name == hash_key.name:
                raise InvalidInput("indexes", f"index {ix.name!r} uses {hash_key.name!r} as both its hash and its "
                                              "range key")
            if isinstance(ix.projection, tuple):
                if len(set(ix.projection)) != len(ix.projection):
                    raise InvalidInput("projection", f"index {ix.name!r} names an attribute twice: {ix.projection}")
                projected += len(ix.projection)
            if isinstance(ix, GlobalIndex) and ix.throughput is not None and not isinstance(billing, Provisioned):
                raise InvalidInput("throughput", f"index {ix.name!r} has provisioned throughput but the table is "
                                                 "billed on demand; give the table billing=Provisioned(...)")
        if projected > MAX_PROJECTED:
            raise InvalidInput("projection", f"the indexes of a table project at most {MAX_PROJECTED} non-key "
                                             f"attributes in all, got {projected}")
        self.attribute_definitions()

    def attribute_definitions(self) -> list[dict[str, str]]:
        """AttributeDefinitions for CreateTable: every key attribute of the table and its indexes, once."""
        seen: dict[str, str] = {}
        keys: list[KeyAttr | None] = [self.hash_key, self.range_key]
        for ix in self.indexes:
            keys += [ix.hash_key if isinstance(ix, GlobalIndex) else None, ix.range_key]
        for k in keys:
            if k is None:
                continue
            if seen.setdefault(k.name, k.type) != k.type:
                raise InvalidInput(k.name, f"is declared both as {seen[k.name]} and as {k.type}")
        return [{"AttributeName": n, "AttributeType": t} for n, t in seen.items()]

    @classmethod
    def from_description(cls, desc: Mapping[str, Any]) -> TableSchema:
        """Read DescribeTable's TableDescription."""
        types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}

        def keys(schema: Sequence[Mapping[str, str]]) -> tuple[KeyAttr | None, KeyAttr | None]:
            h = r = None
            for k in schema:
                attr = KeyAttr(k["AttributeName"], types.get(k["AttributeName"], "S"))
                if k["KeyType"] == "HASH":
                    h = attr
                else:
                    r = attr
            return h, r

        hash_key, range_key = keys(desc["KeySchema"])
        assert hash_key is not None
        indexes: list[Index] = []
        for g in desc.get("GlobalSecondaryIndexes", []) or []:
            gh, gr = keys(g["KeySchema"])
            throughput = g.get("ProvisionedThroughput") or {}
            prov = (Provisioned(throughput["ReadCapacityUnits"], throughput["WriteCapacityUnits"])
                    if throughput.get("ReadCapacityUnits") else None)
            indexes.append(GlobalIndex(g["IndexName"], gh, gr, _projection_from(g.get("Projection")), prov))
        for li in desc.get("LocalSecondaryIndexes", []) or []:
            _, lr = keys(li["KeySchema"])
            indexes.append(LocalIndex(li["IndexName"], lr, _projection_from(li.get("Projection"))))
        return cls(hash_key, range_key, tuple(indexes))


def _projection_from(p: Mapping[str, Any] | None) -> str | tuple[str, ...]:
    if not p:
        return "ALL"
    if p.get("ProjectionType") == "INCLUDE":
        return tuple(p.get("NonKeyAttributes", []))
    return str(p.get("ProjectionType", "ALL"))


def projection_wire(p: str | tuple[str, ...]) -> dict[str, Any]:
    """As DynamoDB's Projection."""
    if isinstance(p, tuple):
        return {"ProjectionType": "INCLUDE", "NonKeyAttributes": list(p)}
    return {"ProjectionType": p}


def key_schema_wire(hash_key: KeyAttr, range_key: KeyAttr | None) -> list[dict[str, str]]:
    """As DynamoDB's KeySchema."""
    out = [{"AttributeName": hash_key.name, "KeyType": "HASH"}]
    if range_key is not None:
        out.append({"AttributeName": range_key.name, "KeyType": "RANGE"})
    return out


def global_index_wire(ix: GlobalIndex, billing: Billing) -> dict[str, Any]:
    """As a GlobalSecondaryIndexes entry of CreateTable/UpdateTable."""
    out: dict[str, Any] = {"IndexName": ix.name, "KeySchema": key_schema_wire(ix.hash_key, ix.range_key),
                           "Projection": projection_wire(ix.projection)}
    throughput = ix.throughput or (billing if isinstance(billing, Provisioned) else None)
    if throughput is not None:
        out["ProvisionedThroughput"] = throughput.wire()
    return out


def local_index_wire(ix: LocalIndex, hash_key: KeyAttr) -> dict[str, Any]:
    """As a LocalSecondaryIndexes entry of CreateTable."""
    return {"IndexName": ix.name, "KeySchema": key_schema_wire(hash_key, ix.range_key),
            "Projection": projection_wire(ix.projection)}
