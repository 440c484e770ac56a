"""Every sentence the twin says to a person: load errors, row problems, assumptions."""

from __future__ import annotations

REDUMP = "write a fresh one with `xe pool-dump-database file-name=FILE`"
NO_FILE = "{path}: no such file; give the XML written by `xe pool-dump-database file-name=FILE`"
NOT_READABLE = "{path}: cannot be read ({error})"
TRUNCATED = (
    "{path}: the file ends in the middle of the database (line {line}): it is truncated; " + REDUMP
)
MALFORMED = "{path}: not well-formed XML ({error}); " + REDUMP
HAS_DTD = "{path}: the file declares a DTD or entities, which XAPI never writes; " + REDUMP
NOT_A_DUMP = (
    "{path}: not an XAPI database dump (the top element is <{tag}>, not <database>); "
    "give the XML written by `xe pool-dump-database`"
)
NO_MANIFEST = (
    "{path}: the dump has no <manifest> with the schema version before its tables; " + REDUMP
)
BAD_VERSION = "{path}: schema version {major}.{minor} is not a number; " + REDUMP
UNKNOWN_VERSION = (
    "{path}: unknown XAPI database schema version {major}.{minor}: this loader reads 5.{low} "
    "(XenServer 6.0) to 5.{high} (XenServer / XCP-ng 8.x and later); "
    "dump the pool from a supported release"
)
UNEXPECTED_TAG = "{path}: unexpected <{tag}> inside <{parent}>; " + REDUMP
NO_POOL = "{path}: the dump has no pool row; " + REDUMP
BUILD_FAILED = "{path}: the twin cannot be built: {error}"
NO_HOSTS = "{path}: the dump has no usable host row; " + REDUMP

# Why a row is left out (the row is named; values are never echoed, so no secret can leak).
ROW_NO_REF = "the row has no ref attribute"
ROW_BAD_FIELD = "field {field} is not a valid {kind}"
ROW_BAD_POWER = "unknown power_state"
ROW_MISSING = "it refers to {cls} {ref}, which is not in the dump"
ROW_NO_MEMORY = "memory__static_max is 0"

# What the twin assumes and changes, printed before it is served.
A_SOURCE_FILE = "assumptions from {path}"
A_SOURCE_DEFAULT = "assumptions: defaults and flags (no {path} beside the dump)"
A_REPLICATED = "replicated SR (mirror at the DR site, same uuid): {name} ({type}), lag {lag:g} s"
A_NOT_REPLICATED = "not replicated: {name} ({why})"
A_WHY_ASSUMED = "named in not_replicated"
A_WHY_NO_DISKS = "shared, carries no VM disk"
A_METADATA = "metadata replication on: {names}"
A_NO_METADATA = "metadata replication: none ({why})"
A_WHY_UNLICENSED = "the pool is not licensed for DR (restrict_dr); set assume_dr_licensed = true"
A_WHY_NO_CAPABLE = "no replicated SR of type lvmoiscsi or lvmohba can hold it"
A_DR_GENERATED = (
    "DR pool generated to match: {hosts} host(s) at {capacity:g} x the memory and CPUs of "
    "the primary's, networks {networks}"
)
A_DR_DUMP = "DR pool from {path}: {hosts} host(s), {vms} VM(s)"
A_NETWORKS_SAME = "the same by name"
A_NETWORKS_MISSING = "the same by name except {names}"
A_RENAMED = "two {cls}s are named {name!r}: the twin calls {uuid} {new!r}"
A_LOCAL_UNEVEN = "local SR {name!r} is on {count} of {hosts} hosts: the twin gives every host one"
A_SIZE_FLOOR = "{cls} {name!r} reports size {size}: the twin gives it {floor}"
A_UNKNOWN_NAMES = "assumptions name {what} {names}, which the dump does not have"
