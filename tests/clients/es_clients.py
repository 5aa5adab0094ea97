"""Ships log lines to Periscope with the real Elasticsearch (9.x) or
OpenSearch Python client, as a user of either would: `info()`, the cluster
health and license where shippers ask for them, `helpers.bulk` of the lines
given on stdin (one JSON document per line), then one bulk whose second item
is refused. Prints what the client reported, as JSON.

Usage: es_clients.py elasticsearch|opensearch URL TOKEN INDEX < lines.ndjson
"""

import json
import sys


def main():
    flavour, url, token, index = sys.argv[1:5]
    docs = [json.loads(line) for line in sys.stdin if line.strip()]
    if flavour == "elasticsearch":
        from elasticsearch import Elasticsearch, helpers

        client = Elasticsearch(url, bearer_auth=token, request_timeout=10)
        version = __import__("elasticsearch").__versionstr__
    else:
        from opensearchpy import OpenSearch, helpers

        client = OpenSearch(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        version = ".".join(map(str, __import__("opensearchpy").__version__))
    out = {"client": f"{flavour} {version}"}
    info = client.info()
    out["info"] = {"version": info["version"]["number"], "tagline": info["tagline"]}
    out["ping"] = client.ping()
    out["health"] = client.cluster.health()["status"]
    if flavour == "elasticsearch":
        out["license"] = client.license.get()["license"]["status"]

    actions = [{"_index": index, "_source": doc} for doc in docs]
    ok, errors = helpers.bulk(client, actions, raise_on_error=False, stats_only=False)
    out["bulk"] = {"ok": ok, "errors": errors}

    # One good line and one that is not a JSON object: the bad one fails alone.
    body = [
        {"index": {"_index": index, "_id": "good-1"}},
        {"@timestamp": docs[0]["@timestamp"], "log": f"{flavour} the good one", "kubernetes": docs[0]["kubernetes"]},
        {"index": {"_index": index, "_id": "bad-1"}},
        "[1, 2, 3]",
    ]
    lines = "\n".join(b if isinstance(b, str) else json.dumps(b) for b in body) + "\n"
    if flavour == "elasticsearch":
        answer = client.bulk(operations=lines, filter_path=None)
    else:
        answer = client.bulk(body=lines)
    out["mixed"] = {
        "errors": answer["errors"],
        "items": [
            {"_index": i["index"]["_index"], "_id": i["index"]["_id"], "status": i["index"]["status"]}
            for i in answer["items"]
        ],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
