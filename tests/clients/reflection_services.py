"""Lists a gRPC server's services with Python grpcio's reflection client,
which speaks only grpc.reflection.v1alpha (as Evans and older grpcurl do).

Usage: reflection_services.py HOST:PORT  -> prints a JSON list of service names,
and the fields of one message type resolved through the same client.
"""

import json
import sys

import grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from google.protobuf.descriptor_pool import DescriptorPool


def main():
    channel = grpc.insecure_channel(sys.argv[1])
    database = ProtoReflectionDescriptorDatabase(channel)
    services = sorted(database.get_services())
    pool = DescriptorPool(database)
    request = pool.FindMessageTypeByName("periscope.v1.QueryRequest")
    print(json.dumps({"services": services, "query_request_fields": [f.name for f in request.fields]}))


if __name__ == "__main__":
    main()
