"""The kernel layers of the sandbox's fallback mode: Landlock, seccomp, the capability bounding set, and
the cleanup of every process a fresh uid owns (used by `gift.sandbox.runner` where namespaces are missing)."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
import signal
import struct
import time

# ----------------------------------------------------------------------------- Landlock

_LANDLOCK_CREATE_RULESET, _LANDLOCK_ADD_RULE, _LANDLOCK_RESTRICT_SELF = 444, 445, 446  # same on every arch
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_FS_FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | (1 << 14) | (1 << 15)  # + truncate, ioctl_dev
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, _PR_CAPBSET_DROP = 38, 22, 2, 24


@functools.lru_cache(maxsize=1)
def _libc():
    return ctypes.CDLL(None, use_errno=True)


@functools.lru_cache(maxsize=1)
def landlock_abi() -> int:
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


def landlock_apply(rules: list[tuple[str, int]]) -> None:
    """Restrict the calling process (a child before exec) to `rules` [(path, allowed fs rights)]."""
    abi = landlock_abi()
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


# ----------------------------------------------------------------------------- seccomp

# seccomp: refuse socket() (every family), io_uring (which could open sockets itself) and setsid/setpgid
# (a daemon would leave the process group that is killed after the run); other arches' syscalls fail.
_SECCOMP_ARCH = {"x86_64": (0xC000003E, {"socket": 41, "io_uring_setup": 425, "setsid": 112, "setpgid": 109}),
                 "aarch64": (0xC00000B7, {"socket": 198, "io_uring_setup": 425, "setsid": 157, "setpgid": 154})}


@functools.lru_cache(maxsize=1)
def seccomp_program() -> bytes | None:
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


def seccomp_apply(program: bytes) -> None:
    libc = _libc()
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("=HxxxxxxQ", len(program) // 8, ctypes.addressof(buf))
    fbuf = ctypes.create_string_buffer(fprog, len(fprog))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, fbuf,
                                                                       0, 0) != 0:
        os._exit(125)


# ----------------------------------------------------------------------------- capabilities and uids

@functools.lru_cache(maxsize=1)
def last_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 40


def drop_capabilities(last_cap: int) -> None:
    """Empty the bounding set (in a child before exec): even uid 0 then execs without capabilities."""
    for cap in range(last_cap + 1):
        if _libc().prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 and os.geteuid() == 0:
            os._exit(125)


def drop_to_uid(uid: int) -> None:
    """Become the fresh `uid` with no supplementary groups (in a child before exec)."""
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)


def count_processes_of(uid: int) -> int:
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


def kill_uid(uid: int, rounds: int = 20) -> None:
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
