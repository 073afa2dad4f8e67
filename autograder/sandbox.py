"""Isolating a process where student code runs (Linux): what it may see, touch and use.

A sandboxed worker is forked from the zygote (:mod:`autograder.zygote`) and, before any
student code runs, :func:`enter` applies every mechanism the zygote found to work here:

* ``pidns``: the worker is process 1 of its own PID namespace, so when it dies every
  process it started dies too (fork bombs, daemons), and it sees no other process;
* ``netns``: an empty network namespace (not even loopback is up): no network at all;
* ``mountns``: a private root file system built on tmpfs and entered with ``pivot_root``.
  Read-only: the Python installation, the course's ``course_lib`` and ``data/`` folders,
  ``/usr`` and a few files of ``/etc``. Writable: a fresh, size-limited tmpfs as the working
  directory, ``/tmp`` and ``/dev/shm``. Everything else (the instructor sources and hidden
  tests, the other submissions, the grader's output) does not exist in there, and whatever
  the student writes vanishes with the worker;
* ``setuid``: when the grader runs as root, the worker drops to an unprivileged uid of its
  own (no capabilities, so ``RLIMIT_NPROC`` is enforced and nothing of the host is writable);
  without root, a user namespace gives the first three and the capabilities are dropped;
* always: resource limits (address space, CPU time, processes, file size, open files, no
  core dumps), ``no_new_privs``, a minimal environment (no instructor secrets), stdin/stdout/
  stderr on ``/dev/null``, and every inherited file descriptor closed but the two pipes.

:func:`probe` measures, from inside the worker and before student code runs, what is
actually in force; the grader logs it for every notebook.
"""

from __future__ import annotations

import ctypes
import os
import platform
import resource
import signal
import socket
import threading

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
_SYSCALLS = {"x86_64": {"pivot_root": 155, "capset": 126},
             "aarch64": {"pivot_root": 41, "capset": 91}}

FEATURES = ("pidns", "netns", "mountns", "setuid")
UID_BASE = 1_000_000_000  # sandbox uids: far above any real account


def sandbox_uid(zygote_pid: int, n: int) -> int:
    """The uid of a zygote's n-th worker: 256 of its own per zygote (its pid is unique while
    it lives), so that graders running side by side never share a uid, nor its
    ``RLIMIT_NPROC`` count. A uid is reused only after its worker and all it started died."""
    return UID_BASE + zygote_pid * 256 + n % 256
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "fonts",
        "ssl", "ca-certificates", "mime.types", "nsswitch.conf", "hosts", "alternatives",
        "os-release", "matplotlibrc")
_TOP = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
_DEVICES = ("null", "zero", "full", "random", "urandom")

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _b(text):
    return None if text is None else os.fsencode(text)


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source, target, fstype, flags: int, data=None) -> None:
    _check(_libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data)),
           f"mount {target}")


def prctl(option: int, arg: int) -> None:
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), f"prctl {option}")


def _syscall(name: str, *args) -> int:
    number = _SYSCALLS.get(platform.machine(), {}).get(name)
    if number is None:
        raise OSError(38, f"{name}: unknown system call number on {platform.machine()}")
    return _libc.syscall(ctypes.c_long(number), *args)


def pivot_root(new_root: str, put_old: str) -> None:
    _check(_syscall("pivot_root", _b(new_root), _b(put_old)), "pivot_root")


def drop_capabilities() -> None:
    """Clear every capability of this process (user namespace mode: we stay uid 0 there)."""

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                    ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()
    _check(_syscall("capset", ctypes.byref(header), ctypes.byref(data)), "capset")


def enter_user_namespace() -> None:
    """Become uid 0 of a new user namespace (no real privilege): lets an ordinary user
    create network and mount namespaces. Must run while the process has one thread."""
    uid, gid = os.getuid(), os.getgid()
    unshare(CLONE_NEWUSER)
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")


# --------------------------------------------------------------------------- the private root

def _touch_target(src: str, dst: str) -> None:
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "a"):
            pass


def _bind_ro(src: str, dst: str) -> None:
    _touch_target(src, dst)
    mount(src, dst, None, MS_BIND | MS_REC)
    try:
        mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    except OSError:  # a locked mount flag in a user namespace: permissions still apply
        mount(None, dst, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def _tmpfs(target: str, size_mb: float, mode: str, flags: int = MS_NOSUID | MS_NODEV) -> None:
    os.makedirs(target, exist_ok=True)
    mount("tmpfs", target, "tmpfs", flags, f"size={int(size_mb * 1024)}k,mode={mode}")


def plan_binds(paths) -> list[str]:
    """Real paths to bind, without any that an earlier (shorter) one already covers."""
    out: list[str] = []
    for real in sorted({os.path.realpath(p) for p in paths}, key=len):
        if not os.path.exists(real) or real == "/":
            continue
        if not any(real == b or real.startswith(b.rstrip("/") + "/") for b in out):
            out.append(real)
    return out


def build_root(spec: dict, uid: int, pidns: bool) -> None:
    """Mount the private root on ``spec["mount_point"]`` and ``pivot_root`` into it."""
    root = spec["mount_point"]
    scratch = spec["scratch_mb"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    _tmpfs(root, 8, "0755")
    # Writable scratch first: binds of a checkout that lives under /tmp go on top of it.
    _tmpfs(root + "/tmp", scratch, "1777")
    for name in _TOP:
        host = "/" + name
        if os.path.islink(host):
            os.symlink(os.readlink(host), root + host)
        elif os.path.isdir(host):
            _bind_ro(host, root + host)
    covered = [root + "/" + n for n in _TOP]
    for path in plan_binds(spec["binds"]):
        if not any((root + path).startswith(c + "/") for c in covered):
            _bind_ro(path, root + path)
    _tmpfs(root + "/etc", 1, "0755")
    for name in _ETC:
        if os.path.exists("/etc/" + name):
            _bind_ro("/etc/" + name, root + "/etc/" + name)
    home = "/tmp/home"
    with open(root + "/etc/passwd", "w") as f:
        f.write(f"root:x:0:0:root:/root:/bin/sh\nstudent:x:{uid}:{uid}:student:{home}:/bin/sh\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    with open(root + "/etc/group", "w") as f:
        f.write(f"root:x:0:\nstudent:x:{uid}:\nnogroup:x:65534:\n")
    mount(None, root + "/etc", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    _tmpfs(root + "/dev", 0.25, "0755", MS_NOSUID)
    for name in _DEVICES:  # device nodes: a plain bind (a nodev remount would disable them)
        _touch_target("/dev/" + name, root + "/dev/" + name)
        mount("/dev/" + name, root + "/dev/" + name, None, MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    _tmpfs(root + "/dev/shm", 64, "1777")
    _tmpfs(root + spec["workdir"], scratch, "0755")
    os.makedirs(root + home)
    for path in (root + home, root + spec["workdir"]):
        os.chown(path, uid, uid)
    if pidns:
        os.makedirs(root + "/proc", exist_ok=True)
        mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    old = root + "/.old-root"
    os.makedirs(old)
    pivot_root(root, old)
    os.chdir("/")
    _check(_libc.umount2(b"/.old-root", ctypes.c_int(MNT_DETACH)), "umount old root")
    os.rmdir("/.old-root")
    mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


# --------------------------------------------------------------------------- entering

def keep_only(fds: list[int]) -> list[int]:
    """Move ``fds`` to 3, 4, ...; put /dev/null on 0, 1, 2; close everything else."""
    high = [os.dup2(fd, 100 + i, inheritable=False) for i, fd in enumerate(fds)]
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null, target)
    out = []
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i, inheritable=False)
        out.append(3 + i)
    os.closerange(3 + len(fds), max(65536, os.sysconf("SC_OPEN_MAX")))
    return out


def enter(spec: dict, features: dict, uid: int) -> None:
    """Isolate the calling (freshly forked) process, after :func:`keep_only`.

    Raises OSError if a mechanism the zygote reported as working fails here: the caller
    must then exit without running any student code.
    """
    os.setsid()
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    flags = (CLONE_NEWNET if features.get("netns") else 0) | (
        CLONE_NEWNS if features.get("mountns") else 0)
    if flags:
        unshare(flags)
    if features.get("mountns"):
        build_root(spec, uid if features.get("setuid") else os.getuid(), features.get("pidns"))
        os.chdir(spec["workdir"])
    else:
        os.makedirs(spec["fallback_workdir"], exist_ok=True)
        os.chdir(spec["fallback_workdir"])
    if features.get("setuid"):
        if not features.get("mountns"):
            os.chown(spec["fallback_workdir"], uid, uid)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    elif features.get("userns"):
        drop_capabilities()
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    os.environ.clear()
    os.environ.update(spec["env"])
    if not features.get("mountns"):
        os.environ["HOME"] = os.environ["TMPDIR"] = spec["fallback_workdir"]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a too-big write fails instead of killing
    limits = spec["limits"]
    mb = 1024 * 1024
    _limit(resource.RLIMIT_AS, limits["memory_mb"] * mb)
    _limit(resource.RLIMIT_CPU, limits["cpu_seconds"], limits["cpu_seconds"] + 5)
    _limit(resource.RLIMIT_NPROC, limits["nproc"])
    _limit(resource.RLIMIT_FSIZE, limits["file_mb"] * mb)
    _limit(resource.RLIMIT_NOFILE, limits["open_files"])
    _limit(resource.RLIMIT_CORE, 0)


def _limit(which: int, soft: int, hard: int | None = None) -> None:
    resource.setrlimit(which, (int(soft), int(soft if hard is None else hard)))


# --------------------------------------------------------------------------- measuring

def probe(hidden: list[str]) -> dict:
    """What is in force in this process, measured (call it before student code runs)."""
    try:
        interfaces = sorted(name for _, name in socket.if_nameindex())
    except OSError:
        interfaces = []
    try:  # an isolated namespace has no route anywhere, not even to itself
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.connect(("127.0.0.1", 9))
            network = "loopback reachable"
        finally:
            s.close()
    except OSError:
        network = "none"
    limits = {}
    for name in ("AS", "CPU", "NPROC", "FSIZE", "NOFILE", "CORE"):
        soft, _ = resource.getrlimit(getattr(resource, f"RLIMIT_{name}"))
        limits[name] = None if soft == resource.RLIM_INFINITY else soft
    return {
        "uid": os.getuid(),
        "pid_namespace": os.getpid() == 1,
        "interfaces": interfaces,
        "network": network,
        "hidden_paths_visible": [p for p in hidden if os.path.exists(p)],
        "root_entries": sorted(os.listdir("/"))[:40],
        "cwd": os.getcwd(),
        "cwd_writable": os.access(".", os.W_OK),
        "limits": limits,
    }


def describe(probe_result: dict | None, features: dict) -> dict:
    """The probe, summarised as what an instructor needs to know (for log.jsonl)."""
    if not probe_result:
        return {"measured": False}
    limits = probe_result.get("limits", {})
    mb = 1024 * 1024
    return {
        "measured": True,
        "separate_process": True,
        "unprivileged_uid": probe_result.get("uid") not in (0, None) or bool(
            features.get("userns")),
        "uid": probe_result.get("uid"),
        "user_namespace": bool(features.get("userns")),
        "pid_namespace": bool(probe_result.get("pid_namespace")),
        "no_network": probe_result.get("network") == "none",
        "private_filesystem": bool(features.get("mountns"))
        and not probe_result.get("hidden_paths_visible"),
        "hidden_paths_visible": probe_result.get("hidden_paths_visible", []),
        "memory_limit_mb": limits.get("AS") and limits["AS"] // mb,
        "cpu_limit_s": limits.get("CPU"),
        "process_limit": limits.get("NPROC"),
        "nproc_enforced": bool(limits.get("NPROC")) and probe_result.get("uid") != 0,
        "file_size_limit_mb": limits.get("FSIZE") and limits["FSIZE"] // mb,
    }


def summary_line(info: dict) -> str:
    """One line for the end-of-run summary."""
    if not info.get("measured"):
        return "isolation: not measured (no sandbox started)"
    parts = ["separate process"]
    if info.get("uid") not in (0, None):
        parts.append(f"uid {info['uid']}")
    elif info.get("user_namespace"):
        parts.append("user namespace, no capabilities")
    else:
        parts.append("RUNS AS ROOT")
    parts.append("pid namespace" if info.get("pid_namespace") else "NO pid namespace")
    parts.append("no network" if info.get("no_network") else "NETWORK REACHABLE")
    parts.append("private file system" if info.get("private_filesystem")
                 else "HOST FILES VISIBLE")
    limits = [f"{info['memory_limit_mb']} MB" if info.get("memory_limit_mb") else None,
              f"{info['cpu_limit_s']} s CPU" if info.get("cpu_limit_s") else None,
              f"{info['process_limit']} processes" if info.get("nproc_enforced") else
              "processes NOT limited",
              f"{info['file_size_limit_mb']} MB files" if info.get("file_size_limit_mb")
              else None]
    return "isolation: " + ", ".join(parts) + "; limits: " + ", ".join(p for p in limits if p)


# --------------------------------------------------------------------------- CPU accounting

_TICK = os.sysconf("SC_CLK_TCK")
_MAX_DESCENDANTS = 512  # a fork bomb is capped by RLIMIT_NPROC far below this


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rfind(b")") + 2:].decode().split()


def _children(pid: int) -> list[int]:
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            pass
    return out


def cpu_seconds(pid: int, descendants: bool = True) -> float | None:
    """CPU time (user + system, all threads) used so far by process ``pid`` and the children
    it has waited for; with ``descendants``, also by every process it started that is still
    there. None if /proc does not show it (a process that ended and was reaped, or a /proc
    mounted with ``hidepid``)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # fields 14-17 of proc(5): utime, stime, cutime, cstime; here shifted by 3
    total = sum(int(v) for v in fields[11:15]) / _TICK
    if descendants:
        seen, todo = {pid}, _children(pid)
        while todo and len(seen) < _MAX_DESCENDANTS:
            child = todo.pop()
            if child in seen:
                continue
            seen.add(child)
            child_fields = _stat_fields(child)
            if child_fields is not None:
                total += sum(int(v) for v in child_fields[11:13]) / _TICK
                todo.extend(_children(child))
    return total


_schedstat: dict[int, int] = {}  # native thread id -> open /proc/.../schedstat


def run_delay() -> float:
    """Seconds the calling thread has spent runnable but waiting for a CPU (what a busy
    machine costs it); 0 where the kernel does not keep schedstats."""
    tid = threading.get_native_id()
    fd = _schedstat.get(tid)
    try:
        if fd is None:
            fd = _schedstat[tid] = os.open(f"/proc/self/task/{tid}/schedstat", os.O_RDONLY)
        return int(os.pread(fd, 128, 0).split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie has)."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X", "x")
