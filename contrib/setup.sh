#!/bin/sh
# Install mailbot as a service (run as root): the user it runs as, its
# directories with their owners, the program in its own venv, and a settings
# file to edit. Safe to run again: what exists is kept (use it to upgrade).
#
#   contrib/setup.sh [WHAT]     WHAT: what pip installs of the distribution
#                               alma-mailbot: default this checkout; or a wheel
#                               (alma_mailbot-*.whl), or a newer checkout to upgrade
set -eu

what=${1:-"$(cd "$(dirname "$0")/.." && pwd)"}
user=mailbot
opt=/opt/mailbot        # the program: a venv owned by root, the service cannot change it
etc=/etc/mailbot        # settings and secret files: root-owned, readable by the service
var=/var/lib/mailbot    # journal, lock, log, staging key: the service's own

# A system user with no login shell; its home is the data directory.
if ! id -u "$user" >/dev/null 2>&1; then
    useradd --system --home-dir "$var" --shell /usr/sbin/nologin --user-group "$user"
fi
install -d -o root -g root -m 755 "$opt"
install -d -o root -g "$user" -m 750 "$etc"
install -d -o "$user" -g "$user" -m 750 "$var"
install -d -o "$user" -g "$user" -m 700 "$var/.ssh"

# The venv runs the interpreter it was made from, so the service user must be able
# to run that one: the system's python3 by default, not one under root's home
# (pyenv and the like). PYTHON=/path/to/python3.11+ to choose another.
python=${PYTHON:-/usr/bin/python3}
runs() { runuser -u "$user" -- "$1" -c 'import sys; assert sys.version_info >= (3, 11)'; }
if ! runs "$python" 2>/dev/null; then
    echo "setup.sh: $user cannot run $python, or it is older than 3.11; set PYTHON=/path/to/python3.11+" >&2
    exit 2
fi
if ! "$python" -c 'import ensurepip' 2>/dev/null; then
    apt-get install -y --no-install-recommends python3-venv >/dev/null  # Debian splits venv out
fi
# A venv the service cannot run (made from another interpreter) is made again.
if ! runs "$opt/bin/python" 2>/dev/null; then
    "$python" -m venv --clear "$opt"
fi
"$opt/bin/pip" install --upgrade --quiet "$what"

# Written once; an edited file is never overwritten. To standard output: no demo
# archive is made, production names its own (archive.url).
if [ ! -e "$etc/mailbot.toml" ]; then
    "$opt/bin/mailbot" init - > "$etc/mailbot.toml"
    sed -i 's|^# data_dir = "/var/lib/mailbot"|data_dir = "/var/lib/mailbot"|' "$etc/mailbot.toml"
    chown root:"$user" "$etc/mailbot.toml"
    chmod 640 "$etc/mailbot.toml"
fi
for secret in imap-password archive-password smtp-password; do
    [ -e "$etc/$secret" ] || install -o root -g "$user" -m 640 /dev/null "$etc/$secret"
done
echo "installed $("$opt/bin/mailbot" --version); now edit $etc/mailbot.toml and the secret files in $etc"
