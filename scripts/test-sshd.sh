#!/bin/sh
# The fleet tests start a throw-away sshd on 127.0.0.1 (tests/sshd.py); this makes sure there is
# one to start. Debian's openssh-server is installed with its system service kept off: installing
# it must not leave a machine listening on port 22. Without apt-get as root it says why and the
# fleet tests skip themselves, naming the same reason.
set -u
for sshd in "${EDGETUI_TEST_SSHD:-}" /usr/sbin/sshd /usr/local/sbin/sshd; do
    [ -n "$sshd" ] && [ -x "$sshd" ] && exit 0
done
if ! command -v apt-get >/dev/null 2>&1; then
    echo "sshd: no apt-get here; the fleet tests will be skipped (install OpenSSH's sshd to run them)"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "sshd: not root, so openssh-server is not installed; the fleet tests will be skipped" \
         "(sudo apt-get install openssh-server to run them)"
    exit 0
fi
# policy-rc.d (exit 101) is Debian's way to tell a package's scripts not to start its service
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy" && made_policy=1
fi
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssh-server >/dev/null 2>&1; }
install || { apt-get update -q >/dev/null 2>&1 && install; }
ok=$?
[ -n "$made_policy" ] && rm -f "$policy"
if [ "$ok" != 0 ]; then
    echo "sshd: apt-get could not install openssh-server; the fleet tests will be skipped"
    exit 0
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now ssh.service ssh.socket >/dev/null 2>&1 || true  # only the tests start it
fi
echo "sshd: openssh-server installed for the fleet tests (its system service is off)"
