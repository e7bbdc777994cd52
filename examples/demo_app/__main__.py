"""Run Poort (127.0.0.1:5000) and the demo app (127.0.0.1:5001) together.

Usage: `python -m examples.demo_app` from the checkout.

Run `poort demo` first: it sets up the instance and registers the demo app as a client.
"""

from __future__ import annotations

import sys
import threading

from werkzeug.serving import make_server

from examples.demo_app.app import create_demo_app, load_credentials
from idp import create_app
from idp.config import instance_path_default

HOST = "127.0.0.1"


def main() -> int:
    try:
        credentials = load_credentials(instance_path_default())
    except FileNotFoundError:
        print("Run `poort demo` first: it registers the demo app with Poort.", file=sys.stderr)
        return 1
    poort = make_server(HOST, 5000, create_app(), threaded=True)
    demo = make_server(HOST, 5001, create_demo_app(credentials), threaded=True)
    threading.Thread(target=demo.serve_forever, daemon=True).start()
    print(f"Poort:    http://{HOST}:5000/  (admin panel at /admin)")
    print(f"Demo app: http://{HOST}:5001/  (Log in with Poort)")
    print("Press Ctrl+C to stop both.")
    try:
        poort.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        demo.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
