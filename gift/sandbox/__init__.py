"""The sandbox: model-written Python runs in an isolated, resource-limited process, and a pass means it ran to its end.

- `runner`: the public seam: `execute` a program, `require_isolation`, `isolation_report`, `available_modes`;
- `modes`: the launch modes (namespaces, user namespaces, the Landlock/seccomp fallback), which this host offers,
  and how each starts the program;
- `launch`: one sandboxed run: its rlimits and environment, its launch in a mode, the capture of its output;
- `layers`: the kernel layers of the fallback mode (Landlock, seccomp, the capability bounding set, a fresh uid).
"""

from gift.sandbox.modes import SandboxUnavailable
from gift.sandbox.runner import available_modes, execute, isolation_report, require_isolation

__all__ = ["SandboxUnavailable", "available_modes", "execute", "isolation_report", "require_isolation"]
