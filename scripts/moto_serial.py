"""moto_server, serving one request at a time.

moto's threaded server checks a DynamoDB condition and writes in separate steps, so
two concurrent conditional writes can both succeed; real DynamoDB makes them atomic.
Serving requests one by one restores that guarantee for Ferry's race tests.

Usage: moto_serial.py HOST PORT
PORT 0 lets the kernel pick a free port. The bound port is printed as the first line
of stdout once the socket listens, so a caller never races another process for it.
"""
import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

host, port = sys.argv[1], int(sys.argv[2])
app = DomainDispatcherApplication(create_backend_app)
server = make_server(host, port, app, threaded=False, request_handler=MotoRequestHandler)
bound = server.socket.getsockname()[1]
# moto builds some URLs from MOTO_PORT (as moto_server sets it).
os.environ["MOTO_PORT"] = str(bound)
print(bound, flush=True)
server.serve_forever()
