"""gunicorn settings for Poort, for running gunicorn yourself:

    gunicorn -c gunicorn.conf.py 'idp:create_app()'

gunicorn also reads this file by itself when started from this folder. `poort serve` uses the
same defaults and hooks; they live in idp/serving.py, the one place to change them. IDP_BIND,
IDP_WORKERS and IDP_THREADS apply here too, and gunicorn's own options (on its command line or
in GUNICORN_CMD_ARGS) override this file. See docs/deployment.md.
"""

from idp import serving

# bind, workers, worker_class = "gthread", threads, timeouts, max_requests, forwarded_allow_ips
globals().update(serving.gunicorn_settings())
# PROMETHEUS_MULTIPROC_DIR before any app is loaded (even with --preload), for the workers.
serving.prepare_metrics_dir()

on_starting = serving.on_starting
child_exit = serving.child_exit
worker_exit = serving.worker_exit
on_exit = serving.on_exit
