"""The sandbox's launch modes: what a sandboxed interpreter sees of the host, which modes this host might
offer, and how each starts the program (the namespace boot script, the Landlock rules, the trusted runner)."""

from __future__ import annotations

import functools
import json
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

from gift.sandbox.layers import (
    FS_EXECUTE,
    FS_READ_DIR,
    FS_READ_FILE,
    FS_WRITE_FILE,
    landlock_abi,
    seccomp_program,
)

MODES_VARIABLE = "GIFT_SANDBOX_MODES"  # comma-separated modes the probe may choose from (default: all)

_SYSTEM_LIBS = ("/lib", "/lib64", "/lib32", "/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/local/lib")
_SYSTEM_FILES = ("/etc/ld.so.cache",)  # lets the loader find libraries outside the default folders
_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
TOKEN_BYTES = 16


class SandboxUnavailable(RuntimeError):
    """The host cannot give an isolation layer that the caller requires."""


# ----------------------------------------------------------------------------- what the program sees

@dataclass(frozen=True)
class View:
    """The host paths a sandboxed interpreter sees (read-only) and where its scratch lives."""

    dirs: tuple[str, ...]  # folders bound read-only (each the same path inside)
    files: tuple[str, ...]  # single files bound read-only
    links: tuple[tuple[str, str], ...]  # (path, target) symlinks recreated inside (/lib -> usr/lib)
    scratch: str  # the program's writable folder and working directory inside the namespace
    python: str  # the interpreter to run, as a path valid inside


def _covered(path: str, dirs: Iterable[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in dirs)


@functools.lru_cache(maxsize=8)
def interpreter_view(python: str) -> View:
    """The folders `python` needs: its prefixes and site-packages (as given and resolved), the system libraries."""
    probe = ("import json, site, sys\n"
             "print(json.dumps([sys.executable, sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,"
             " *site.getsitepackages()]))")
    out = subprocess.run([python, "-I", "-c", probe], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}, check=False)
    if out.returncode != 0:
        raise SandboxUnavailable(f"interpreter {python} does not start: {out.stderr.strip()[-300:]}")
    executable, *prefixes = json.loads(out.stdout)
    wanted = [os.path.dirname(os.path.abspath(python)), os.path.dirname(executable), *prefixes]
    wanted.append(os.path.dirname(os.path.realpath(python)))
    candidates = []
    for path in wanted:
        path = os.path.abspath(path)
        for p in (path, os.path.realpath(path)):
            if os.path.isdir(p) and p != "/":
                candidates.append(p)
    links, libs = [], []
    for lib in _SYSTEM_LIBS:
        if os.path.islink(lib) and lib.count("/") == 1:
            links.append((lib, os.readlink(lib)))
            libs.append(os.path.realpath(lib))
        elif os.path.isdir(lib):
            libs.append(os.path.realpath(lib))
    dirs: list[str] = []
    for p in sorted(set(candidates + libs), key=lambda s: (s.count("/"), s)):
        if not _covered(p, dirs):
            dirs.append(p)
    links = [(p, t) for p, t in links if not _covered(p, dirs)]
    files = [f for f in _SYSTEM_FILES if os.path.isfile(f) and not _covered(f, dirs)]
    scratch = "/sandbox"
    while _covered(scratch, dirs) or any(_covered(d, [scratch]) for d in dirs):
        scratch = f"/sandbox-{secrets.token_hex(4)}"
    return View(dirs=tuple(dirs), files=tuple(files), links=tuple(links), scratch=scratch,
                python=os.path.abspath(python))


_ROOT_MOUNTPOINT: dict[str, str] = {}


def root_mountpoint(view: View) -> str:
    """An empty host folder, outside every exposed path, on which each namespace mounts its own root."""
    key = "|".join(view.dirs)
    if key in _ROOT_MOUNTPOINT and os.path.isdir(_ROOT_MOUNTPOINT[key]):
        return _ROOT_MOUNTPOINT[key]
    for base in (tempfile.gettempdir(), "/var/tmp", "/dev/shm", "/run", os.getcwd()):
        if os.path.isdir(base) and os.access(base, os.W_OK) and not _covered(os.path.realpath(base), view.dirs):
            path = tempfile.mkdtemp(prefix="gift-sandbox-root-", dir=base)
            _ROOT_MOUNTPOINT[key] = path
            import atexit

            atexit.register(lambda p=path: os.path.isdir(p) and not os.listdir(p) and os.rmdir(p))
            return path
    raise SandboxUnavailable("no writable folder outside the interpreter's prefixes to mount the sandbox root on")


# ----------------------------------------------------------------------------- modes

@dataclass(frozen=True)
class Mode:
    """How to launch: which unshare flags, and how privileges are dropped."""

    name: str
    unshare: tuple[str, ...]
    drop_uid: bool

    @property
    def namespaced(self) -> bool:
        return bool(self.unshare)

    @property
    def layers(self) -> list[str]:
        if self.namespaced:
            out = ["pid_namespace", "net_namespace", "mount_namespace", "minimal_root", "ipc_namespace"]
            out.append("user_namespace" if "--user" in self.unshare else "privilege_drop")
            out.append("capabilities_dropped")
        else:
            out = [name for name, ok in (("landlock_fs", landlock_abi() >= 1), ("landlock_net", landlock_abi() >= 4),
                                         ("landlock_scope", landlock_abi() >= 6),
                                         ("seccomp_net", seccomp_program() is not None)) if ok]
            out += ["no_file_writes", "capabilities_dropped"]
            if self.drop_uid:
                out.append("privilege_drop")
        return out + ["rlimits", "process_group", "stripped_env", "output_caps", "completion_token"]

    @property
    def missing(self) -> list[str]:
        if self.namespaced:
            return []
        missing = ["pid_namespace", "net_namespace", "mount_namespace", "minimal_root"]
        if not self.drop_uid:
            missing.append("privilege_drop_or_user_namespace")
        return missing + [x for x in ("landlock_fs", "landlock_net", "landlock_scope", "seccomp_net")
                          if x not in self.layers]


def host_tool(name: str) -> str | None:
    return shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")


_NS_FLAGS = ("--net", "--pid", "--fork", "--kill-child", "--mount", "--ipc", "--uts")
NS_TOOLS = ("unshare", "mount", "umount", "pivot_root", "setpriv", "sh")


def _others_can_use(view: View) -> bool:
    """Whether a uid that owns nothing can reach every exposed path (a pyenv under /root cannot)."""
    for path in (*view.dirs, *view.files):
        parts = path.strip("/").split("/")
        for i in range(len(parts)):
            try:
                st = os.stat("/" + "/".join(parts[: i + 1]))
            except OSError:
                return False
            if not st.st_mode & 0o001 and os.path.isdir("/" + "/".join(parts[: i + 1])):
                return False
    return True


def candidate_modes(python: str) -> list[Mode]:
    """Every mode this host might offer, strongest first (the probe keeps those that work)."""
    modes = []
    if all(host_tool(t) for t in NS_TOOLS):
        if os.geteuid() == 0:
            modes.append(Mode("namespaces", _NS_FLAGS, drop_uid=True))
        modes.append(Mode("userns", ("--user", "--map-root-user", *_NS_FLAGS), drop_uid=False))
    # As root without namespaces a fresh uid needs to reach the interpreter; otherwise root keeps its uid
    # but loses every capability (and Landlock still confines it).
    drop = os.geteuid() == 0 and _others_can_use(interpreter_view(python))
    modes.append(Mode("fallback", (), drop_uid=drop))
    allowed = os.environ.get(MODES_VARIABLE)
    if allowed:  # e.g. to see how a host without user namespaces would be treated
        modes = [m for m in modes if m.name in allowed.split(",")]
    return modes


def mode_named(name: str, python: str | None = None) -> Mode:
    """The launch mode called `name` (one of MODES) as this host would build it for `python`."""
    for mode in candidate_modes(python or sys.executable):
        if mode.name == name:
            return mode
    raise SandboxUnavailable(f"sandbox mode {name!r} cannot be built on this host (tools {NS_TOOLS} or root missing)")


# ----------------------------------------------------------------------------- the runner

# Trusted code run first by the sandboxed interpreter: read the token, close its pipe, run the program as
# __main__, and report the token only if the program's text ran to its end.
RUNNER = r"""
import os, sys
def _gift_runner(token_fd, done_fd):
    token = b''
    while len(token) < TOKEN_BYTES:
        chunk = os.read(token_fd, 64)
        if not chunk:
            break
        token += chunk
    os.close(token_fd)
    with open('main.py', 'rb') as f:
        code = compile(f.read(), 'main.py', 'exec')
    sys.argv[:] = ['main.py']
    exec(code, {'__name__': '__main__', '__file__': 'main.py', '__builtins__': __builtins__})
    os.write(done_fd, token)
_gift_runner(int(sys.argv[1]), int(sys.argv[2]))
""".replace("TOKEN_BYTES", str(TOKEN_BYTES))


# ----------------------------------------------------------------------------- namespace boot

def boot_script(mode: Mode, view: View, root: str, tmp_mb: int, uid: int | None, token_fd: int,
                 done_fd: int) -> str:
    q = shlex.quote
    # One `mkdir -p` for every folder and one `mount --bind -o ro` per exposed path (mount remounts it
    # read-only itself): each command here is a fork and exec paid by every program.
    folders = ["/proc", "/dev", "/.gift", "/.oldroot", view.scratch, *view.dirs, *{os.path.dirname(f) for f in view.files}]
    lines = ["set -eu", f"R={q(root)}",
             f"PATH={q(':'.join(sorted({os.path.dirname(host_tool(t) or '/usr/bin') for t in NS_TOOLS})))}",
             'mount -t tmpfs -o size=1m,mode=755,nosuid,nodev gift-root "$R"',
             "ro() { mount --rbind -o ro,nosuid,nodev \"$1\" \"$2\" 2>/dev/null || "
             "mount --rbind -o ro,nosuid,nodev,noexec \"$1\" \"$2\"; }",
             "mkdir -p " + " ".join(f'"$R"{q(d)}' for d in folders)]
    for d in view.dirs:
        lines.append(f'ro {q(d)} "$R"{q(d)}')
    for path, target in view.links:
        lines.append(f'ln -s {q(target)} "$R"{q(path)}')
    tools = {"setpriv": host_tool("setpriv"), "umount": host_tool("umount")}
    files = [(f, f) for f in view.files] + [(path or name, f"/.gift/{name}") for name, path in tools.items()]
    lines.append("touch " + " ".join(f'"$R"{q(inside)}' for _, inside in files)
                 + "".join(f' "$R"{q(dev)}' for dev in _DEVICES if os.path.exists(dev)))
    for host, inside in files:
        lines.append(f'ro {q(host)} "$R"{q(inside)}')
    for dev in _DEVICES:
        if os.path.exists(dev):
            lines.append(f'mount --bind {q(dev)} "$R"{q(dev)}')
    lines.append('mount -t proc -o nosuid,nodev,noexec proc "$R/proc" 2>/dev/null || rmdir "$R/proc"')
    lines.append(f'mount -t tmpfs -o size={int(tmp_mb)}m,mode=1777,nosuid,nodev scratch "$R"{q(view.scratch)}')
    lines.append(f'cat > "$R"{q(view.scratch)}/main.py')
    if uid is not None:
        lines.append(f'chown -R {uid}:{uid} "$R"{q(view.scratch)}')
    lines += ['mount -o remount,bind,ro,nosuid,nodev "$R"', 'cd "$R"', 'pivot_root . .oldroot',
              "/.gift/umount -l /.oldroot", f"cd {q(view.scratch)}", "set +e"]
    drop = "/.gift/setpriv --inh-caps=-all --bounding-set=-all --no-new-privs"
    if uid is not None:
        drop += f" --reuid {uid} --regid {uid} --clear-groups"
    lines.append(f"{drop} {q(view.python)} -I -B -c {q(RUNNER)} {token_fd} {done_fd} < /dev/null")
    lines.append("exit $?")
    return "\n".join(lines) + "\n"

def fallback_rules(view: View, workdir: str) -> list[tuple[str, int]]:
    read = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
    rules = [(d, read) for d in view.dirs] + [(f, FS_READ_FILE) for f in view.files]
    rules += [(workdir, FS_READ_FILE | FS_READ_DIR)]
    rules += [("/dev/null", FS_READ_FILE | FS_WRITE_FILE)] + [(d, FS_READ_FILE) for d in _DEVICES[1:]]
    return rules
