"""mxcp-compact: fast, safe retention cleanup for MXCP JSONL audit logs.

`compact(path, retention=...)` compacts one file; the `mxcp-compact` command resolves MXCP
profiles and applies the rules to every audit file of a project. Importing this package loads
only the Rust core and the small API module; the CLI's dependencies load on demand.
"""

from mxcp_compact._core import __version__
from mxcp_compact.api import Result, SchemaCount, compact
from mxcp_compact.errors import ConfigError
from mxcp_compact.registry import RegistryEntry
from mxcp_compact.rules import FOREVER, Retention

__all__ = [
    "FOREVER",
    "ConfigError",
    "RegistryEntry",
    "Result",
    "Retention",
    "SchemaCount",
    "__version__",
    "compact",
]
