"""The sandbox tenant code runs in: a bubblewrap (`bwrap`) command line, and the rules it sets.

A `python_code` call runs the system Python (`WFB_SANDBOX_PYTHON`, default `/usr/bin/python3`)
under bubblewrap (`WFB_SANDBOX_BWRAP`, default `/usr/bin/bwrap`):

- in fresh user, pid, mount, network, ipc and uts namespaces (and cgroup, where the kernel
  allows), with no further user namespaces inside (`--disable-userns`);
- as uid and gid 65534 inside. A worker running as root drops to 65534 before starting
  bwrap, so outside the sandbox too the code has nobody's rights (a root-owned file a mount
  exposed by mistake stays unreadable) and no capability anywhere;
- on a read-only root holding only the interpreter and the system libraries (`/usr/lib`,
  `/lib*`), a `/proc` of its own pid namespace (the worker is not in it), a read-only minimal
  `/dev` and a size-limited tmpfs `/tmp` as working directory. Nothing of the product's
  source, its virtual environment, its data directory or `/etc` is there;
- with no network interface but a loopback of its own, an empty environment, a session of its
  own (no terminal to inject input into), killed with the worker (`--die-with-parent`);
- on x86-64, under a seccomp filter that refuses (EPERM) the system calls tenant code has no
  use for and that widen the kernel's attack surface: tracing and other processes' memory,
  kernel keyrings, BPF, perf events, userfaultfd, io_uring, modules, kexec, mounts, namespaces,
  file handles, swap, reboot, quotas and the like; other ABIs (32-bit, x32) are killed.

The runner sets the rlimits (CPU, address space, processes, open files, file size, core dumps)
before the code runs; wall time and output size are enforced from outside, by the caller.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import struct
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workflow_builder.activities.contract import ActivityError
from workflow_builder.config import Settings

log = logging.getLogger(__name__)

SANDBOX_UID = SANDBOX_GID = 65534
# Processes and threads the code may have at once (the sandbox's own two included).
MAX_PROCESSES = 32
MAX_OPEN_FILES = 64
# /tmp is a tmpfs of memory_mb, at most this much: files there live in memory, beside RLIMIT_AS.
MAX_TMP_MB = 64
LIBRARY_DIRS = ("/usr/lib", "/usr/lib64", "/usr/lib32", "/lib", "/lib64", "/lib32", "/libx32")
CERTIFICATE_DIRS = ("/etc/ssl/certs", "/usr/share/ca-certificates")
# x86-64 system call numbers (asm/unistd_64.h) the seccomp filter refuses.
REFUSED_SYSCALLS_X86_64 = {
    "ptrace": 101,
    "syslog": 103,
    "personality": 135,
    "pivot_root": 155,
    "chroot": 161,
    "acct": 163,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "iopl": 172,
    "ioperm": 173,
    "init_module": 175,
    "delete_module": 176,
    "quotactl": 179,
    "lookup_dcookie": 212,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "fanotify_init": 300,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
}
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_EPERM = 0x00050000 | 1
_RET_KILL_PROCESS = 0x80000000
INSTALL_HINT = (
    "install bubblewrap on the worker's machine (Debian/Ubuntu: apt-get install bubblewrap "
    "python3), or, on an installation whose every user is trusted, set "
    "WFB_UNSAFE_CODE_EXECUTION=1"
)


def unavailable(reason: str) -> ActivityError:
    """The non-retryable error of a call that found no sandbox to run in."""
    return ActivityError(
        f"python_code cannot run: {reason}. Tenant code only runs inside a sandbox: "
        f"{INSTALL_HINT}.",
        error_type="SandboxUnavailable",
        retryable=False,
        details={"reason": reason},
    )


def check(settings: Settings) -> None:
    """Raise `unavailable(...)` when bubblewrap or the sandbox's Python is missing."""
    if not os.access(settings.sandbox_bwrap, os.X_OK):
        raise unavailable(f"bubblewrap (bwrap) not found at {settings.sandbox_bwrap}")
    if not os.access(settings.sandbox_python, os.X_OK):
        raise unavailable(f"no Python for the sandbox at {settings.sandbox_python}")


def command(
    settings: Settings,
    python_args: Sequence[str],
    *,
    tmp_mb: int,
    status_fd: int,
    egress_socket: str | None = None,
    seccomp_fd: int | None = None,
) -> list[str]:
    """The bwrap command line that runs the sandbox's Python with `python_args`.

    `egress_socket`: the egress proxy's Unix socket, bound in at `/run/wfb-egress.sock` with
    the system's CA certificates (for TLS through it). `seccomp_fd`: a pipe holding
    `seccomp_filter()`, applied to the code's process.

    bwrap writes JSON lines to `status_fd`: `child-pid` once the sandbox exists (so its absence
    means the sandbox could not be built), `exit-code` when the code's process ended."""
    python = str(settings.sandbox_python.resolve())
    args = [
        str(settings.sandbox_bwrap),
        "--unshare-user",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--disable-userns",
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_GID),
        "--hostname",
        "sandbox",
        "--cap-drop",
        "ALL",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--json-status-fd",
        str(status_fd),
    ]
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
    for directory in LIBRARY_DIRS:
        path = Path(directory)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), directory]
        elif path.is_dir():
            args += ["--ro-bind", directory, directory]
    args += ["--ro-bind", python, python]
    if egress_socket is not None:
        args += ["--ro-bind", egress_socket, "/run/wfb-egress.sock"]
        for certificates in CERTIFICATE_DIRS:
            if Path(certificates).is_dir():
                args += ["--ro-bind", certificates, certificates]
    args += ["--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev"]
    args += ["--size", str(min(tmp_mb, MAX_TMP_MB) * 1024 * 1024), "--tmpfs", "/tmp"]
    args += ["--chdir", "/tmp", "--remount-ro", "/"]
    return [*args, python, *python_args]


def seccomp_filter() -> bytes | None:
    """The seccomp program (classic BPF, as bwrap's `--seccomp` reads it) for this machine,
    or None where there is none (architectures other than x86-64)."""
    if platform.machine() != "x86_64":
        return None

    def op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("=HBBI", code, jt, jf, k)

    program = [
        op(_BPF_LD_W_ABS, 4),  # seccomp_data.arch
        op(_BPF_JEQ_K, _AUDIT_ARCH_X86_64, jt=1),
        op(_BPF_RET_K, _RET_KILL_PROCESS),
        op(_BPF_LD_W_ABS, 0),  # seccomp_data.nr
        op(_BPF_JGE_K, _X32_SYSCALL_BIT, jf=1),
        op(_BPF_RET_K, _RET_KILL_PROCESS),
    ]
    for number in sorted(REFUSED_SYSCALLS_X86_64.values()):
        program += [op(_BPF_JEQ_K, number, jf=1), op(_BPF_RET_K, _RET_EPERM)]
    program.append(op(_BPF_RET_K, _RET_ALLOW))
    return b"".join(program)


def process_user() -> Mapping[str, Any]:
    """Popen arguments that start bwrap as nobody when the worker is root (none otherwise)."""
    if os.geteuid() != 0:
        return {}
    return {"user": SANDBOX_UID, "group": SANDBOX_GID, "extra_groups": []}


def started(status: bytes) -> bool:
    """Whether bwrap's status lines say the sandbox was built and the code's process started."""
    for line in status.decode(errors="replace").splitlines():
        try:
            if "child-pid" in json.loads(line):
                return True
        except ValueError:
            continue
    return False


def probe(settings: Settings) -> None:
    """Build one sandbox and start the sandbox's Python in it; raise `unavailable(...)` naming
    what failed (bubblewrap or Python missing, namespaces refused, a mount refused)."""
    check(settings)
    status_read, status_write = os.pipe()
    try:
        finished = subprocess.run(
            command(settings, ["-I", "-S", "-c", "pass"], tmp_mb=16, status_fd=status_write),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            cwd="/",
            env={},
            pass_fds=(status_write,),
            timeout=60,
            check=False,
            **process_user(),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise unavailable(f"bubblewrap could not be started ({exc})") from None
    finally:
        os.close(status_read)
        os.close(status_write)
    if finished.returncode != 0:
        stderr = finished.stderr.decode(errors="replace").strip()
        raise unavailable(f"bubblewrap could not create the sandbox ({stderr})")


def announce(settings: Settings) -> None:
    """Say at worker start how tenant code will run here: loudly when it runs unconfined or
    cannot run at all."""
    if settings.unsafe_code_execution:
        log.warning(
            "WFB_UNSAFE_CODE_EXECUTION=1: python_code runs tenant code WITHOUT a sandbox, with "
            "this worker's rights (its environment, files, database and network). Only for an "
            "installation whose every user is trusted."
        )
        return
    try:
        probe(settings)
    except ActivityError as exc:
        log.warning("python_code steps will fail here: %s; %s", exc.details["reason"], INSTALL_HINT)
    else:
        log.debug("python_code runs tenant code in a bubblewrap sandbox")
