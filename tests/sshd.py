"""A throw-away OpenSSH server on 127.0.0.1 for the fleet tests: its own host key, an authorized
key made for the test, a known_hosts file holding that host key (host-key checking stays on),
and an inventory of "boards" that all point at it. Stopping it ends every connection it holds,
as a network drop would; starting it again on the same port lets a follower reconnect.

Nothing here touches the machine's own ssh set-up (~/.ssh, /etc/ssh)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

SSHD_CANDIDATES = (os.environ.get("EDGETUI_TEST_SSHD", ""), "/usr/sbin/sshd", "/usr/local/sbin/sshd")


TESTS = Path(__file__).resolve().parent


def board_env(fixture: str, *, sharing_cores: bool) -> dict[str, str]:
    """The environment of a loopback "board": this checkout's edgetui on its path, its sysfs fixture
    (and the fixture's recorded tools, vcgencmd or nvpmodel, on PATH), the user's model cache."""
    root = TESTS / "fixtures" / fixture
    env = {"PYTHONPATH": str(TESTS.parent / "src"), "EDGETUI_SYSFS_ROOT": str(root)}
    if sharing_cores:
        # Boards that run at once on this machine's cores, where llama.cpp's OpenMP workers,
        # spinning while they wait, starve each other (two 2-thread smoke runs at once on 2 cores:
        # 1.2 tok/s each instead of about 50). Waiting passively is what a shared machine needs;
        # alone it costs (the smoke run: 25 tok/s passive, 93 spinning), so a run on its own, as on
        # a real board, keeps llama.cpp's default.
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    if (root / "bin").is_dir():
        env["PATH"] = f"{root / 'bin'}{os.pathsep}{os.environ['PATH']}"
    if os.environ.get("EDGETUI_CACHE_DIR"):
        env["EDGETUI_CACHE_DIR"] = os.environ["EDGETUI_CACHE_DIR"]
    return env


def find_sshd() -> tuple[str | None, str]:
    """(path to sshd, "") or (None, why not), for a skip that says what to install."""
    for c in SSHD_CANDIDATES:
        if c and os.access(c, os.X_OK):
            break
    else:
        return None, "no sshd (install Debian's openssh-server: `make sshd` does it as root)"
    if shutil.which("ssh") is None or shutil.which("ssh-keygen") is None:
        return None, "no OpenSSH client (ssh, ssh-keygen)"
    return c, ""


def ansible_missing() -> str:
    """Why the fleet cannot drive Ansible here, or "" when it can."""
    try:
        import ansible_runner  # noqa: F401
    except ImportError:
        return "ansible-runner is not installed (pip install -e '.[fleet]')"
    if not (Path(sys.executable).parent / "ansible-playbook").exists() and shutil.which("ansible-playbook") is None:
        return "ansible-core is not installed (pip install -e '.[fleet]')"
    return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackSshd:
    def __init__(self, folder: Path, sshd: str) -> None:
        self.dir = folder
        self.sshd = sshd
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.host_key = self.dir / "host_key"
        self.client_key = self.dir / "client_key"
        self.known_hosts = self.dir / "known_hosts"
        for key in (self.host_key, self.client_key):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        (self.dir / "authorized_keys").write_text(Path(f"{self.client_key}.pub").read_text())
        os.chmod(self.dir / "authorized_keys", 0o600)
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {Path(f'{self.host_key}.pub').read_text()}")
        self.config = self.dir / "sshd_config"
        self.config.write_text("\n".join([
            "ListenAddress 127.0.0.1", f"Port {self.port}", f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}", "PasswordAuthentication no",
            "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "PermitRootLogin prohibit-password",
            "StrictModes no", "UsePAM no", f"PidFile {self.dir / 'sshd.pid'}", "MaxSessions 100",
            "MaxStartups 100", "Subsystem sftp internal-sftp", "LogLevel INFO", "",
        ]))
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> None:
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation folder sshd insists on as root
        log = (self.dir / "sshd.log").open("ab")
        self.proc = subprocess.Popen([self.sshd, "-D", "-e", "-f", str(self.config)], stdout=log, stderr=log,
                                     stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.dir / 'sshd.log').read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("sshd did not start listening")

    def stop(self) -> None:
        """End the server and every connection it holds (its session processes are sshd too)."""
        if self.proc is None:
            return
        try:
            sessions = [p for p in psutil.Process(self.proc.pid).children(recursive=True) if p.name() == "sshd"]
        except psutil.NoSuchProcess:
            sessions = []
        self.proc.send_signal(signal.SIGTERM)
        for p in sessions:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        self.proc.wait(10)
        self.proc = None

    def ssh_vars(self, *, known_hosts: Path | None = None) -> dict[str, str]:
        """Ansible connection variables for a host behind this server."""
        return {
            "ansible_host": "127.0.0.1", "ansible_port": str(self.port),
            "ansible_ssh_private_key_file": str(self.client_key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts or self.known_hosts} "
                                       "-o GlobalKnownHostsFile=/dev/null -o IdentitiesOnly=yes",
            "ansible_python_interpreter": "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable,
        }
