"""`scripts/test` leaves the machine's services enabled only as it found them.

The install of openssh-server and dovecot-imapd enables their units; the
script's own functions (taken from it as they are) must take back exactly the
links the install added, with no systemd running, as in a container.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "test"


def functions(*names: str) -> str:
    """The shell functions `names` as scripts/test defines them."""
    text = SCRIPT.read_text(encoding="utf-8")
    found = [re.search(rf"^{name}\(\) \{{\n.*?^\}}\n", text, re.MULTILINE | re.DOTALL)
             for name in names]
    assert all(found), names
    return "".join(match.group(0) for match in found if match)


def test_only_the_links_the_install_added_are_removed(tmp_path: Path) -> None:
    wants = tmp_path / "multi-user.target.wants"
    wants.mkdir()
    (wants / "ssh.service").symlink_to("/lib/systemd/system/ssh.service")  # enabled by AOG
    install = (  # what the packages' postinst does
        f"ln -s /lib/systemd/system/dovecot.service {wants}/dovecot.service\n"
        f"ln -s /lib/systemd/system/ssh.service {tmp_path}/sshd.service\n")
    script = (functions("as_root", "service_links", "restore_services")
              + f"before=$(service_links)\n{install}restore_services \"$before\"\n")
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True,
                          text=True, check=False, timeout=60,
                          env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
                               "MAILBOT_SYSTEMD_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    links = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_symlink())
    assert links == ["multi-user.target.wants/ssh.service"]
    assert "dovecot.service" in done.stdout and "sshd.service" in done.stdout


def test_the_install_step_restores_the_services() -> None:
    body = functions("install_packages")
    assert body.index("enabled_before=$(service_links)") < body.index("apt-get install")
    assert body.index("apt-get install") < body.index('restore_services "$enabled_before"')
