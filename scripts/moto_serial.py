"""moto_server, serving one request at a time.

moto's threaded server checks a DynamoDB condition and writes in separate steps, so
two concurrent conditional writes can both succeed; real DynamoDB makes them atomic.
Serving requests one by one restores that guarantee for Ferry's race tests.
Usage: moto_serial.py HOST PORT
"""
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

host, port = sys.argv[1], int(sys.argv[2])
app = DomainDispatcherApplication(create_backend_app)
run_simple(host, port, app, threaded=False, request_handler=MotoRequestHandler)
