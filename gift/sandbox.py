"""Run untrusted Python (model-written code) in an isolated, resource-limited process and score it.

Two kinds of launch mode, probed once per process and interpreter (:func:`probe_isolation`):

- full isolation (``namespaces`` as root, ``userns`` otherwise): ``unshare`` gives the program its own
  pid, network, mount, IPC and UTS namespaces (plus a user namespace in ``userns``). Its root is a fresh
  tmpfs holding exactly the interpreter's prefixes and site-packages, the system library folders, a few
  device nodes and a size-capped scratch folder, all read-only except the scratch; ``pivot_root`` then
  detaches the host's tree, so the checkout, home folders and ``/etc`` are simply absent. The program
  runs under a fresh uid (as root) or with every capability dropped (user namespace). When the
  namespace's init ends, the kernel kills every process left in it.
- ``fallback`` (no namespaces, e.g. an HPC node without user namespaces): Landlock confines reads to the
  same folders and forbids writes everywhere but ``/dev/null`` and forbids TCP and signals outside the
  program; seccomp refuses new sockets and ``setsid``/``setpgid`` (so every child stays in the process
  group that is killed after the run); a zero file-size limit stops writes even without Landlock; as
  root the program runs under a fresh uid. Each layer is used where the kernel offers it.

Always: rlimits (CPU, address space, file size, processes, open files, no core), a wall-clock timeout
that kills the whole process group, a stripped environment, ``python -I``, output caps.

A pass means the harness saw the program complete. A runner (trusted code run first by the same
interpreter) reads a random token from a pipe, executes the program text in ``__main__``, and writes
the token to a second pipe only if the text ran to its end; the program passes only when that token
arrives and it exits 0. ``os._exit``, ``sys.exit``, ``atexit``, exception hooks, signals and closed
streams therefore all fail. Residual risk: a program written against this runner can still find the
token in its own process (by walking the runner's stack frame or reading its memory) and forge a pass.

Full isolation missing is refused (``on_missing="refuse"``, raises :class:`SandboxUnavailable`) or
accepted with a warning (``"warn"``); the default comes from ``GIFT_SANDBOX_ON_MISSING`` (``refuse``).
``GIFT_SANDBOX_MODES`` (comma-separated names) limits the modes the probe may choose.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import logging
import math
import os
import platform
import random
import resource
import secrets
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field

log = logging.getLogger(__name__)

# Layers a full sandbox has; which of them the host gives is decided by `probe_isolation`.
FULL_ISOLATION = ("pid_namespace", "net_namespace", "mount_namespace", "minimal_root",
                  "privilege_drop_or_user_namespace")
STATUSES = ("passed", "failed", "incomplete", "timeout", "memory", "file_size", "output_limit", "killed", "error")
MODES = ("namespaces", "userns", "fallback")
ON_MISSING_VARIABLE = "GIFT_SANDBOX_ON_MISSING"
MODES_VARIABLE = "GIFT_SANDBOX_MODES"  # comma-separated modes the probe may choose from (default: all)

_CAPTURE_BYTES = 64 * 1024  # kept of each stream
_FLOOD_BYTES = 4 * 1024 * 1024  # total output after which the program is killed as a flood
_UID_RANGE = (200_000, 260_000)  # fresh uids for dropped privileges; nothing on the host owns them
_SYSTEM_LIBS = ("/lib", "/lib64", "/lib32", "/usr/lib", "/usr/lib64", "/usr/lib32", "/usr/local/lib")
_SYSTEM_FILES = ("/etc/ld.so.cache",)  # lets the loader find libraries outside the default folders
_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
_TOKEN_BYTES = 16


class SandboxUnavailable(RuntimeError):
    """The host cannot give an isolation layer that the caller requires."""


@dataclass
class ExecutionResult:
    """Outcome of one sandboxed run. `passed`: exit 0 within every limit and the runner saw the program end."""

    passed: bool
    status: str
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    isolation: list[str] = field(default_factory=list)
    missing_isolation: list[str] = field(default_factory=list)
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    mode: str = ""
    completed: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


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


def _root_mountpoint(view: View) -> str:
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
class _Mode:
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
            out = [name for name, ok in (("landlock_fs", _landlock_abi() >= 1), ("landlock_net", _landlock_abi() >= 4),
                                         ("landlock_scope", _landlock_abi() >= 6),
                                         ("seccomp_net", _seccomp_program() is not None)) if ok]
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


def _tool(name: str) -> str | None:
    return shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")


_NS_FLAGS = ("--net", "--pid", "--fork", "--kill-child", "--mount", "--ipc", "--uts")
_NS_TOOLS = ("unshare", "mount", "umount", "pivot_root", "setpriv", "sh")


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


def _candidate_modes(python: str) -> list[_Mode]:
    """Every mode this host might offer, strongest first (the probe keeps those that work)."""
    modes = []
    if all(_tool(t) for t in _NS_TOOLS):
        if os.geteuid() == 0:
            modes.append(_Mode("namespaces", _NS_FLAGS, drop_uid=True))
        modes.append(_Mode("userns", ("--user", "--map-root-user", *_NS_FLAGS), drop_uid=False))
    # As root without namespaces a fresh uid needs to reach the interpreter; otherwise root keeps its uid
    # but loses every capability (and Landlock still confines it).
    drop = os.geteuid() == 0 and _others_can_use(interpreter_view(python))
    modes.append(_Mode("fallback", (), drop_uid=drop))
    allowed = os.environ.get(MODES_VARIABLE)
    if allowed:  # e.g. to see how a host without user namespaces would be treated
        modes = [m for m in modes if m.name in allowed.split(",")]
    return modes


def mode_named(name: str, python: str | None = None) -> _Mode:
    """The launch mode called `name` (one of MODES) as this host would build it for `python`."""
    for mode in _candidate_modes(python or sys.executable):
        if mode.name == name:
            return mode
    raise SandboxUnavailable(f"sandbox mode {name!r} cannot be built on this host (tools {_NS_TOOLS} or root missing)")


# ----------------------------------------------------------------------------- the runner

# Trusted code run first by the sandboxed interpreter: read the token, close its pipe, run the program as
# __main__, and report the token only if the program's text ran to its end.
_RUNNER = r"""
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
""".replace("TOKEN_BYTES", str(_TOKEN_BYTES))


# ----------------------------------------------------------------------------- namespace boot

def _boot_script(mode: _Mode, view: View, root: str, tmp_mb: int, uid: int | None, token_fd: int,
                 done_fd: int) -> str:
    q = shlex.quote
    # One `mkdir -p` for every folder and one `mount --bind -o ro` per exposed path (mount remounts it
    # read-only itself): each command here is a fork and exec paid by every program.
    folders = ["/proc", "/dev", "/.gift", "/.oldroot", view.scratch, *view.dirs, *{os.path.dirname(f) for f in view.files}]
    lines = ["set -eu", f"R={q(root)}",
             f"PATH={q(':'.join(sorted({os.path.dirname(_tool(t) or '/usr/bin') for t in _NS_TOOLS})))}",
             'mount -t tmpfs -o size=1m,mode=755,nosuid,nodev gift-root "$R"',
             "ro() { mount --rbind -o ro,nosuid,nodev \"$1\" \"$2\" 2>/dev/null || "
             "mount --rbind -o ro,nosuid,nodev,noexec \"$1\" \"$2\"; }",
             "mkdir -p " + " ".join(f'"$R"{q(d)}' for d in folders)]
    for d in view.dirs:
        lines.append(f'ro {q(d)} "$R"{q(d)}')
    for path, target in view.links:
        lines.append(f'ln -s {q(target)} "$R"{q(path)}')
    tools = {"setpriv": _tool("setpriv"), "umount": _tool("umount")}
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
    lines.append(f"{drop} {q(view.python)} -I -B -c {q(_RUNNER)} {token_fd} {done_fd} < /dev/null")
    lines.append("exit $?")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- fallback layers (Landlock, seccomp)

_LANDLOCK_CREATE_RULESET, _LANDLOCK_ADD_RULE, _LANDLOCK_RESTRICT_SELF = 444, 445, 446  # same on every arch
_FS_EXECUTE, _FS_WRITE_FILE, _FS_READ_FILE, _FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_FILE_ONLY = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | (1 << 14) | (1 << 15)  # + truncate, ioctl_dev
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, _PR_CAPBSET_DROP = 38, 22, 2, 24


@functools.lru_cache(maxsize=1)
def _libc():
    return ctypes.CDLL(None, use_errno=True)


@functools.lru_cache(maxsize=1)
def _landlock_abi() -> int:
    """Landlock's ABI version on this kernel (0: unavailable)."""
    try:
        return max(0, int(_libc().syscall(_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1))))
    except (OSError, AttributeError):
        return 0


def _landlock_handled(abi: int) -> tuple[int, int, int]:
    """(fs, net, scope) access rights this ABI can handle: every one, so unlisted paths get nothing."""
    fs_bits = {1: 13, 2: 14, 3: 15, 4: 15, 5: 16}.get(abi, 16)
    fs = (1 << fs_bits) - 1
    net = 0b11 if abi >= 4 else 0  # bind_tcp, connect_tcp
    scope = 0b11 if abi >= 6 else 0  # abstract unix sockets, signals
    return fs, net, scope


def _landlock_apply(rules: list[tuple[str, int]]) -> None:
    """Restrict the calling process (a child before exec) to `rules` [(path, allowed fs rights)]."""
    abi = _landlock_abi()
    if abi < 1:
        return
    libc = _libc()
    fs, net, scope = _landlock_handled(abi)
    attr = struct.pack("QQQ", fs, net, scope)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buf = ctypes.create_string_buffer(attr, len(attr))
    ruleset = libc.syscall(_LANDLOCK_CREATE_RULESET, buf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if ruleset < 0:
        os._exit(125)
    for path, access in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        if not os.path.isdir(path):
            access &= _FS_FILE_ONLY
        beneath = struct.pack("=Qi", access & fs, fd)
        rb = ctypes.create_string_buffer(beneath, len(beneath))
        rc = libc.syscall(_LANDLOCK_ADD_RULE, ruleset, ctypes.c_int(1), rb, ctypes.c_uint32(0))
        os.close(fd)
        if rc < 0:
            os._exit(125)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.syscall(
            _LANDLOCK_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)) != 0:
        os._exit(125)
    os.close(ruleset)


# seccomp: refuse socket() (every family), io_uring (which could open sockets itself) and setsid/setpgid
# (a daemon would leave the process group that is killed after the run); other arches' syscalls fail.
_SECCOMP_ARCH = {"x86_64": (0xC000003E, {"socket": 41, "io_uring_setup": 425, "setsid": 112, "setpgid": 109}),
                 "aarch64": (0xC00000B7, {"socket": 198, "io_uring_setup": 425, "setsid": 157, "setpgid": 154})}


@functools.lru_cache(maxsize=1)
def _seccomp_program() -> bytes | None:
    spec = _SECCOMP_ARCH.get(platform.machine())
    if spec is None:
        return None
    arch, calls = spec
    allow, deny = 0x7FFF0000, 0x00050000 | 1  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EPERM
    insns = [(0x20, 0, 0, 4),  # ld arch
             (0x15, 1, 0, arch),  # jeq arch -> skip the next
             (0x06, 0, 0, deny),
             (0x20, 0, 0, 0)]  # ld nr
    if platform.machine() == "x86_64":
        insns.append((0x35, len(calls) + 1, 0, 0x40000000))  # jge x32 -> deny
    for i, nr in enumerate(calls.values()):
        insns.append((0x15, len(calls) - i, 0, nr))  # jeq nr -> deny
    insns += [(0x06, 0, 0, allow), (0x06, 0, 0, deny)]
    return b"".join(struct.pack("=HBBI", *ins) for ins in insns)


def _seccomp_apply(program: bytes) -> None:
    libc = _libc()
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("=HxxxxxxQ", len(program) // 8, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, fbuf,
                                                                       0, 0) != 0:
        os._exit(125)


@functools.lru_cache(maxsize=1)
def _last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 40


def _fallback_rules(view: View, workdir: str) -> list[tuple[str, int]]:
    read = _FS_EXECUTE | _FS_READ_FILE | _FS_READ_DIR
    rules = [(d, read) for d in view.dirs] + [(f, _FS_READ_FILE) for f in view.files]
    rules += [(workdir, _FS_READ_FILE | _FS_READ_DIR)]
    rules += [("/dev/null", _FS_READ_FILE | _FS_WRITE_FILE)] + [(d, _FS_READ_FILE) for d in _DEVICES[1:]]
    return rules


# ----------------------------------------------------------------------------- launching

def _count_processes_of(uid: int) -> int:
    n = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError), open(f"/proc/{entry}/status") as f:
            for line in f:
                if line.startswith("Uid:"):
                    n += int(line.split()[1]) == uid
                    break
    return n


def _kill_uid(uid: int, rounds: int = 20) -> None:
    """SIGKILL every process whose real uid is `uid` (a fresh uid owns only the sandboxed program)."""
    for _ in range(rounds):
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError), open(f"/proc/{entry}/status") as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            if int(line.split()[1]) == uid:
                                pids.append(int(entry))
                            break
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)


def _limits(timeout_s: float, memory_mb: int, file_size_mb: int, max_processes: int, max_open_files: int,
            mode: _Mode) -> list[tuple[int, int]]:
    cpu = max(1, math.ceil(timeout_s))
    nproc = max_processes
    if not mode.drop_uid:
        # RLIMIT_NPROC counts every process of the real uid on the host, not only the sandbox's.
        nproc += _count_processes_of(os.getuid())
    mem = memory_mb * 1024 * 1024
    # Without a private scratch tmpfs any write would land on the host: no file may grow at all.
    fsize = file_size_mb * 1024 * 1024 if mode.namespaced else 0
    return [
        (resource.RLIMIT_CPU, (cpu, cpu + 1)),
        (resource.RLIMIT_AS, (mem, mem)),
        (resource.RLIMIT_FSIZE, (fsize, fsize)),
        (resource.RLIMIT_NPROC, (nproc, nproc)),
        (resource.RLIMIT_NOFILE, (max_open_files, max_open_files)),
        (resource.RLIMIT_CORE, (0, 0)),
    ]


def _stripped_env(home: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": home, "TMPDIR": home,
            "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": "1"}


class _Capture(threading.Thread):
    """Drain a pipe, keep the first `keep` bytes, and report when the total passes the flood limit."""

    def __init__(self, stream, keep: int, on_flood) -> None:
        super().__init__(daemon=True)
        self.stream, self.keep, self.on_flood = stream, keep, on_flood
        self.buf = bytearray()
        self.total = 0

    def run(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            while True:
                chunk = self.stream.read1(65536) if hasattr(self.stream, "read1") else self.stream.read(65536)
                if not chunk:
                    break
                self.total += len(chunk)
                if len(self.buf) < self.keep:
                    self.buf += chunk[: self.keep - len(self.buf)]
                if self.total > _FLOOD_BYTES:
                    self.on_flood()
                    break

    def text(self) -> tuple[str, bool]:
        return self.buf.decode("utf-8", errors="replace"), self.total > len(self.buf)


def _kill_group(proc: subprocess.Popen) -> None:
    # The child leads its own session, so its pgid is its pid; in a pid namespace --kill-child takes the rest.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()


@dataclass
class _Raw:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    flooded: bool
    stdout_truncated: bool
    stderr_truncated: bool
    completed: bool
    duration_s: float


def _run_once(source: str, mode: _Mode, *, python: str, timeout_s: float, memory_mb: int, file_size_mb: int,
              max_processes: int, max_open_files: int, tmp_mb: int) -> _Raw:
    """Launch one program in `mode` and collect how it ended."""
    view = interpreter_view(python)
    uid = random.randint(*_UID_RANGE) if mode.drop_uid else None
    token = secrets.token_bytes(_TOKEN_BYTES)
    token_r, token_w = os.pipe()
    done_r, done_w = os.pipe()
    host_dir = None
    limits = _limits(timeout_s, memory_mb, file_size_mb, max_processes, max_open_files, mode)
    if mode.namespaced:
        script = _boot_script(mode, view, _root_mountpoint(view), tmp_mb, uid, token_r, done_w)
        argv = [_tool("unshare") or "unshare", *mode.unshare, "--", _tool("sh") or "/bin/sh", "-c", script]
        cwd, home = "/", view.scratch
        rules: list[tuple[str, int]] = []
    else:
        host_dir = tempfile.mkdtemp(prefix="gift-sandbox-")
        with open(os.path.join(host_dir, "main.py"), "w", encoding="utf-8") as f:
            f.write(source)
        os.chmod(host_dir, 0o755)
        os.chmod(os.path.join(host_dir, "main.py"), 0o644)
        argv = [view.python, "-I", "-B", "-c", _RUNNER, str(token_r), str(done_w)]
        cwd = home = host_dir
        rules = _fallback_rules(view, host_dir)
    seccomp = None if mode.namespaced else _seccomp_program()
    last_cap = _last_capability()

    def preexec() -> None:
        for which, value in limits:
            resource.setrlimit(which, value)
        if not mode.namespaced:
            for cap in range(last_cap + 1):  # an empty bounding set: even uid 0 execs without capabilities
                if _libc().prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and os.geteuid() == 0:
                    os._exit(125)
            if uid is not None:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
            _landlock_apply(rules)
            if seccomp is not None:
                _seccomp_apply(seccomp)

    flooded = threading.Event()
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=cwd, env=_stripped_env(home), start_new_session=True, preexec_fn=preexec,
                                close_fds=True, pass_fds=(token_r, done_w))
    except OSError as err:
        for fd in (token_r, token_w, done_r, done_w):
            os.close(fd)
        if host_dir:
            shutil.rmtree(host_dir, ignore_errors=True)
        return _Raw(None, "", f"sandbox could not start: {err}", False, False, False, False, False, 0.0)
    os.close(token_r)
    os.close(done_w)
    with contextlib.suppress(OSError):
        os.write(token_w, token)
    os.close(token_w)
    os.set_blocking(done_r, False)

    def on_flood() -> None:
        flooded.set()
        _kill_group(proc)

    out = _Capture(proc.stdout, _CAPTURE_BYTES, on_flood)
    err = _Capture(proc.stderr, _CAPTURE_BYTES, on_flood)
    out.start()
    err.start()
    with contextlib.suppress(OSError):
        if mode.namespaced:
            proc.stdin.write(source.encode("utf-8"))
        proc.stdin.close()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s + (0.5 if mode.namespaced else 0.0))  # the boot's mounts take a moment
    except subprocess.TimeoutExpired:
        timed_out = not flooded.is_set()
        _kill_group(proc)
        proc.wait()
    duration = time.monotonic() - start
    # Without a pid namespace a daemonised child may outlive the run: kill its group, and every process of
    # the fresh uid when privileges were dropped; a reader still blocked on a pipe is left to its thread.
    _kill_group(proc)
    if uid is not None and not mode.namespaced:
        _kill_uid(uid)
    reported = b""
    with contextlib.suppress(OSError):
        while len(reported) <= 4 * _TOKEN_BYTES:
            chunk = os.read(done_r, 256)
            if not chunk:
                break
            reported += chunk
    os.close(done_r)
    out.join(timeout=1.0)
    err.join(timeout=1.0)
    for reader, stream in ((out, proc.stdout), (err, proc.stderr)):
        if not reader.is_alive():
            with contextlib.suppress(OSError):
                stream.close()
    if host_dir:
        shutil.rmtree(host_dir, ignore_errors=True)
    so, so_trunc = out.text()
    se, se_trunc = err.text()
    return _Raw(proc.returncode, so, se, timed_out, flooded.is_set(), so_trunc, se_trunc,
                secrets.compare_digest(reported, token), duration)


def _works(mode: _Mode, python: str) -> tuple[bool, str]:
    try:
        raw = _run_once("print('sandbox-ok')", mode, python=python, timeout_s=10.0, memory_mb=512, file_size_mb=1,
                        max_processes=16, max_open_files=64, tmp_mb=8)
    except (OSError, SandboxUnavailable, subprocess.SubprocessError) as err:
        return False, str(err)
    ok = raw.returncode == 0 and raw.completed and raw.stdout.strip() == "sandbox-ok"
    return ok, f"rc={raw.returncode}: {raw.stderr.strip()[-300:]}"


@functools.lru_cache(maxsize=8)
def available_modes(python: str | None = None) -> tuple[str, ...]:
    """Names of the launch modes that run a program on this host with `python`, strongest first."""
    python = python or sys.executable
    names = []
    for mode in _candidate_modes(python):
        ok, why = _works(mode, python)
        if ok:
            names.append(mode.name)
        else:
            log.info("sandbox mode %s unavailable with %s (%s)", mode.name, python, why)
    return tuple(names)


@functools.lru_cache(maxsize=8)
def probe_isolation(python: str | None = None) -> _Mode:
    """The strongest launch mode that works on this host (tried once per process and interpreter)."""
    python = python or sys.executable
    for mode in _candidate_modes(python):
        ok, why = _works(mode, python)
        if ok:
            if mode.missing:
                log.warning("sandbox mode %s (no full isolation; missing %s) for %s", mode.name,
                            ", ".join(mode.missing), python)
            else:
                log.info("sandbox mode %s: layers %s", mode.name, ", ".join(mode.layers))
            return mode
        log.info("sandbox mode %s unavailable with %s (%s)", mode.name, python, why)
    raise SandboxUnavailable(f"no way to run a sandboxed Python process on this host with {python}")


def isolation_report(python: str | None = None, all_modes: bool = False) -> dict:
    """The chosen mode, its layers, what full isolation would add, and the host's facts (for logs, results
    and health checks); with `all_modes`, also every mode that works here (each is tried once)."""
    python = python or sys.executable
    mode = probe_isolation(python)
    report = {"mode": mode.name, "full": not mode.missing, "layers": mode.layers, "missing": mode.missing,
              "python": python, "tools": {t: _tool(t) for t in _NS_TOOLS}, "landlock_abi": _landlock_abi(),
              "seccomp": _seccomp_program() is not None, "root": os.geteuid() == 0}
    if all_modes:
        report["available_modes"] = list(available_modes(python))
    return report


def missing_isolation_message(report: dict) -> str:
    """One message naming what is missing and the two ways forward."""
    return (f"the sandbox for model-written code cannot get full isolation on this host (mode {report['mode']}, "
            f"missing {', '.join(report['missing'])}; needs unshare, mount, pivot_root and setpriv, and "
            f"unprivileged user namespaces unless run as root). Either run where user namespaces are enabled "
            f"(`unshare --user --map-root-user true` works), or accept weaker containment explicitly: "
            f"set `sandbox: {{on_missing: warn}}` in the config or {ON_MISSING_VARIABLE}=warn.")


def require_isolation(on_missing: str | None = None, python: str | None = None) -> dict:
    """The isolation report, or :class:`SandboxUnavailable` when full isolation is missing and not accepted."""
    on_missing = on_missing or os.environ.get(ON_MISSING_VARIABLE) or "refuse"
    if on_missing not in {"refuse", "warn"}:
        raise ValueError(f"sandbox on_missing must be 'refuse' or 'warn', got {on_missing!r}")
    report = isolation_report(python)
    if report["missing"]:
        if on_missing == "refuse":
            raise SandboxUnavailable(missing_isolation_message(report))
        log.warning("sandbox: accepting weaker containment (mode %s, missing %s)", report["mode"],
                    ", ".join(report["missing"]))
    return report


_warned: set[str] = set()


def _check_layers(mode: _Mode, on_missing: str) -> None:
    if not mode.missing:
        return
    msg = (f"sandbox isolation incomplete on this host: missing {', '.join(mode.missing)} "
           f"(mode {mode.name}); untrusted code would run with weaker containment")
    if on_missing == "refuse":
        raise SandboxUnavailable(msg + f"; set on_missing='warn' (or {ON_MISSING_VARIABLE}=warn) to accept")
    if on_missing != "warn":
        raise ValueError(f"on_missing must be 'refuse' or 'warn', got {on_missing!r}")
    if mode.name not in _warned:
        _warned.add(mode.name)
        warnings.warn(msg, RuntimeWarning, stacklevel=3)
        log.warning("!!! %s", msg)


def _classify(raw: _Raw) -> str:
    if raw.returncode is None:
        return "error"
    if raw.flooded:
        return "output_limit"
    if raw.timed_out:
        return "timeout"
    if raw.returncode == 0:
        return "passed" if raw.completed else "incomplete"
    rc = raw.returncode
    # sh reports a child killed by signal N as 128 + N; unshare itself may die by the signal (negative).
    sig = -rc if rc < 0 else (rc - 128 if 128 < rc < 160 else None)
    tail = raw.stderr[-4000:]
    if "MemoryError" in tail or "Cannot allocate memory" in tail:
        return "memory"
    if sig == signal.SIGXCPU:
        return "timeout"
    if sig == signal.SIGXFSZ or "File too large" in tail:
        return "file_size"
    if sig is not None:
        return "killed"
    return "failed"


def execute(source: str, timeout_s: float = 10.0, memory_mb: int = 1024, *, file_size_mb: int = 16,
            max_processes: int = 32, max_open_files: int = 64, tmp_mb: int = 64, python: str | None = None,
            on_missing: str | None = None, mode: str | None = None) -> ExecutionResult:
    """Run `source` as a Python program (``__main__``) in the sandbox and report how it ended.

    `passed` is true only when the program's text ran to its end, it exited 0 and stayed within every
    limit. Never raises for anything the program does; raises :class:`SandboxUnavailable` when full
    isolation is missing and `on_missing` is "refuse" (default from ``GIFT_SANDBOX_ON_MISSING``, else
    "refuse"). `mode` forces one launch mode by name (tests and benchmarks).
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be str, got {type(source).__name__}")
    python = python or sys.executable
    on_missing = on_missing or os.environ.get(ON_MISSING_VARIABLE) or "refuse"
    chosen = mode_named(mode, python) if mode else probe_isolation(python)
    if mode is None:
        _check_layers(chosen, on_missing)
    raw = _run_once(source, chosen, python=python, timeout_s=timeout_s, memory_mb=memory_mb,
                    file_size_mb=file_size_mb, max_processes=max_processes, max_open_files=max_open_files,
                    tmp_mb=tmp_mb)
    status = _classify(raw)
    return ExecutionResult(passed=status == "passed", status=status, returncode=raw.returncode, stdout=raw.stdout,
                           stderr=raw.stderr, duration_s=round(raw.duration_s, 4), isolation=chosen.layers,
                           missing_isolation=chosen.missing, stdout_truncated=raw.stdout_truncated,
                           stderr_truncated=raw.stderr_truncated, mode=chosen.name, completed=raw.completed)


def pass_at_1(results: Iterable[ExecutionResult | bool]) -> tuple[float, float, int]:
    """pass@1 in percent over single samples, its standard error (sample std / sqrt(n)) and n."""
    flags = [bool(r.passed if isinstance(r, ExecutionResult) else r) for r in results]
    n = len(flags)
    if n == 0:
        return float("nan"), float("nan"), 0
    p = sum(flags) / n
    se = math.sqrt(p * (1 - p) / (n - 1)) if n > 1 else float("nan")
    return 100.0 * p, 100.0 * se, n


def status_counts(results: Sequence[ExecutionResult]) -> dict[str, int]:
    """How many results ended in each status (for reports)."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts
