#!/usr/bin/env python3
"""A stand-in for the kubelet's pod-resources endpoint, for
tests/integration/pod_resources.sh: a real gRPC server (grpcio, HTTP/2) on a
unix socket that answers v1.PodResourcesLister/List from a JSON fixture,
with messages built from agent/sdk/podresources.proto (compiled here with
grpc_tools), so the agent's client meets another implementation of the wire
format. The fixture is read at each call; {"fail": "text"} in it answers
UNAVAILABLE instead. Each call's request metadata goes to the log file.

usage: fake_kubelet.py PROTO SOCKET FIXTURE LOG
"""
import importlib
import json
import os
import sys
import tempfile
from concurrent import futures

import grpc
from grpc_tools import protoc


def load_pb(proto):
    out = tempfile.mkdtemp(prefix="fake_kubelet.")
    rc = protoc.main(["protoc", "-I" + os.path.dirname(proto),
                      "--python_out=" + out, proto])
    if rc != 0:
        sys.exit("protoc failed on %s" % proto)
    sys.path.insert(0, out)
    return importlib.import_module(
        os.path.splitext(os.path.basename(proto))[0] + "_pb2")


def main():
    proto, sock, fixture, log = sys.argv[1:5]
    pb = load_pb(proto)

    def list_pods(request, context):
        md = dict(context.invocation_metadata())
        with open(log, "a") as f:
            f.write("List %s\n" % json.dumps(md, sort_keys=True))
        with open(fixture) as f:
            spec = json.load(f)
        if "fail" in spec:
            context.abort(grpc.StatusCode.UNAVAILABLE, spec["fail"])
        resp = pb.ListPodResourcesResponse()
        for p in spec["pods"]:
            pr = resp.pod_resources.add(name=p["name"], namespace=p["namespace"])
            for c in p["containers"]:
                cr = pr.containers.add(name=c["name"])
                for d in c["devices"]:
                    cr.devices.add(resource_name=d["resource_name"],
                                   device_ids=d["device_ids"])
        return resp

    class Lister(grpc.GenericRpcHandler):
        def service(self, details):
            if details.method != "/v1.PodResourcesLister/List":
                return None
            return grpc.unary_unary_rpc_method_handler(
                list_pods,
                request_deserializer=pb.ListPodResourcesRequest.FromString,
                response_serializer=pb.ListPodResourcesResponse.SerializeToString)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((Lister(),))
    server.add_insecure_port("unix:" + sock)
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
