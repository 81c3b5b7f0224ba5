"""An HTTPS server on 127.0.0.1 whose certificate a private CA signed, for the trust
store test. Writes the CA's PEM to argv[1], prints the port once it listens, and
answers every request 418 with an AWS-style error body.
Runs on the project's venv python (moto brings `cryptography`)."""
import datetime
import http.server
import ipaddress
import os
import ssl
import sys
import tempfile

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def certificate(subject, issuer, public_key, signing_key, ca):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(signing_key, hashes.SHA256())


ca_key = ec.generate_private_key(ec.SECP256R1())
ca = certificate("Ferry test CA", "Ferry test CA", ca_key.public_key(), ca_key, True)
leaf_key = ec.generate_private_key(ec.SECP256R1())
leaf = certificate("localhost", "Ferry test CA", leaf_key.public_key(), ca_key, False)

pem = serialization.Encoding.PEM
with open(sys.argv[1], "wb") as out:
    out.write(ca.public_bytes(pem))
chain = tempfile.NamedTemporaryFile(suffix=".pem", delete=False)
chain.write(leaf.public_bytes(pem))
chain.write(
    leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
)
chain.close()


class Teapot(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b"<ErrorResponse><Error><Type>Sender</Type><Code>Teapot</Code>" \
               b"<Message>reached over TLS</Message></Error></ErrorResponse>"
        self.send_response(418)
        self.send_header("content-type", "text/xml")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", 0), Teapot)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(chain.name)
os.unlink(chain.name)
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
