"""An independent Workload API client for devstack's compliance test.

Uses only Debian's python3-grpcio: the few protobuf messages involved are
encoded and decoded by hand, so no generated stubs are needed.

  compliance_client.py fetch-and-call <socket path> <port> <server name>
      fetches an X.509-SVID over the socket, then calls grpc.health.v1
      Health/Check on localhost:<port> over mTLS with it; prints JSON.
  compliance_client.py no-header <socket path>
      asks for an SVID without the security header; prints the status code.
"""

import base64
import json
import sys

import grpc

FETCH_X509_SVID = "/SpiffeWorkloadAPI/FetchX509SVID"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


def read_varint(data, pos):
    result, shift = 0, 0
    while True:
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(data):
    """Yields (field number, wire type, value) of a protobuf message."""
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
        elif wire == 2:
            length, pos = read_varint(data, pos)
            value, pos = data[pos:pos + length], pos + length
        else:
            raise ValueError("unexpected wire type %d" % wire)
        yield number, wire, value


def split_der(data):
    out, pos = [], 0
    while pos < len(data):
        first = data[pos + 1]
        if first < 0x80:
            length, header = first, 2
        else:
            count = first & 0x7F
            length = int.from_bytes(data[pos + 2:pos + 2 + count], "big")
            header = 2 + count
        out.append(data[pos:pos + header + length])
        pos += header + length
    return out


def pem(der, label):
    body = base64.b64encode(der).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, "\n".join(lines), label)).encode()


def fetch(socket_path, metadata):
    channel = grpc.insecure_channel("unix://" + socket_path)
    try:
        stream = channel.unary_stream(FETCH_X509_SVID)(b"", metadata=metadata, timeout=10)
        first = next(stream)
        stream.cancel()
        return first
    finally:
        channel.close()


def fetch_and_call(socket_path, port, server_name):
    response = fetch(socket_path, [("workload.spiffe.io", "true")])
    svid = next(v for n, w, v in fields(response) if n == 1)
    parts = {n: v for n, w, v in fields(svid)}
    spiffe_id = parts[1].decode()
    chain = b"".join(pem(c, "CERTIFICATE") for c in split_der(parts[2]))
    key = pem(parts[3], "PRIVATE KEY")
    bundle = b"".join(pem(c, "CERTIFICATE") for c in split_der(parts[4]))
    creds = grpc.ssl_channel_credentials(root_certificates=bundle, private_key=key, certificate_chain=chain)
    channel = grpc.secure_channel("localhost:%d" % port, creds,
                                  options=[("grpc.ssl_target_name_override", server_name)])
    try:
        answer = channel.unary_unary(HEALTH_CHECK)(b"", timeout=10)
    finally:
        channel.close()
    status = next((v for n, w, v in fields(answer) if n == 1), 0)
    print(json.dumps({"spiffe_id": spiffe_id, "health_status": status}))


def no_header(socket_path):
    try:
        fetch(socket_path, None)
        print(json.dumps({"code": "OK"}))
    except grpc.RpcError as error:
        print(json.dumps({"code": error.code().name, "details": error.details()}))


if __name__ == "__main__":
    if sys.argv[1] == "fetch-and-call":
        fetch_and_call(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "no-header":
        no_header(sys.argv[2])
    else:
        sys.exit("unknown mode")
