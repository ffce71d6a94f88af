"""The EKS token as `aws eks get-token` builds it (awscli/customizations/eks/get_token.py), with botocore
signing at a fixed time: an independent reference for bbgate's token. Credentials come from the standard
environment variables. Usage: eks_reference_token.py CLUSTER REGION RFC3339-TIME"""
import base64
import datetime
import sys

import botocore.auth
import botocore.session

cluster, region, at = sys.argv[1:4]
fixed = datetime.datetime.fromisoformat(at.replace("Z", "+00:00")).astimezone(datetime.timezone.utc).replace(tzinfo=None)
botocore.auth.get_current_datetime = lambda *a, **k: fixed

session = botocore.session.get_session()
client = session.create_client("sts", region_name=region, endpoint_url=f"https://sts.{region}.amazonaws.com")


def retrieve_cluster(params, context, **kwargs):
    if "ClusterName" in params:
        context["eks_cluster"] = params.pop("ClusterName")


def inject_header(request, **kwargs):
    if "eks_cluster" in request.context:
        request.headers["x-k8s-aws-id"] = request.context["eks_cluster"]


client.meta.events.register("provide-client-params.sts.GetCallerIdentity", retrieve_cluster)
client.meta.events.register("before-sign.sts.GetCallerIdentity", inject_header)
url = client.generate_presigned_url(
    "get_caller_identity", Params={"ClusterName": cluster}, ExpiresIn=60, HttpMethod="GET"
)
print("k8s-aws-v1." + base64.urlsafe_b64encode(url.encode("utf-8")).decode("utf-8").rstrip("="))
