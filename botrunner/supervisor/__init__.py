"""The supervisor (gunicorn-style arbiter), its systemd notifications and the embedded Redis."""
