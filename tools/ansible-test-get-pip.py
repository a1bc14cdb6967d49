"""Stand-in for the get-pip.py bootstrap script ansible-test downloads.

ansible-test fetches get-pip.py from ci-files.testing.ansible.com to put pip
into the empty virtual environments of its sanity tests. That host cannot be
reached from machines that only reach PyPI, and ansible-test reads the script
from its cache first (~/.ansible/test/cache/get_pip_<version>.py), so `make
test-sanity` places this file there: it installs the pip wheel bundled with
Python (ensurepip), then runs pip with the arguments get-pip.py would get
(the pinned pip, setuptools and wheel, from PyPI).

ansible-test runs it with a filtered environment (no PIP_CERT): the bundled
pip then verifies TLS against the system's CA bundle, which is where a
TLS-inspecting proxy's certificate is trusted. Newer pip (24.2+) uses the
system store by itself.
"""
import ensurepip
import os
import subprocess
import sys

SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

# get-pip.py's own options; pip install does not know them.
OWN_OPTIONS = {"--no-setuptools", "--no-wheel"}
pip_args = [arg for arg in sys.argv[1:] if arg not in OWN_OPTIONS]
if os.path.exists(SYSTEM_CA_BUNDLE):
    pip_args = ["--cert", SYSTEM_CA_BUNDLE, *pip_args]

ensurepip.bootstrap()
status = subprocess.call([sys.executable, "-m", "pip", "install", *pip_args])
if status == 0 and "--no-setuptools" in sys.argv:
    status = subprocess.call([sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", "setuptools"])
sys.exit(status)
