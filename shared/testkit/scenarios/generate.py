"""Writes the access-check scenario corpus: the seed's baseline procedure
(../shared/seeds/000_a3e1ca149e69ac40.txt) and one mutation per kind of mistake.
expected.json maps each file to the decision of every check (denied if any request
of that check is denied). Run: python3 shared/testkit/scenarios/generate.py"""
import copy, json, os

HERE = os.path.dirname(os.path.abspath(__file__))
R, H = "111122223333", "777788889999"
BUCKET = f"model-artifacts-{R}"
ROLE = f"arn:aws:iam::{H}:role/BedrockCMIExecutionRole-{H}"
SRC_KEY = f"arn:aws:kms:us-east-1:{R}:key/b5b6e052-fb27-4dbb-bf0d-daf3375a9fda"
IMP_KEY = f"arn:aws:kms:us-east-1:{H}:key/6cd5d3bf-3d9b-4d1c-83d5-8df6284435a1"
CALLER = f"arn:aws:iam::{H}:role/FerryAutomation"

def root_statement(account):
    return {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}

BASE = {
    "region": "us-east-1",
    "source_uri": f"s3://{BUCKET}/mistral-model-weights/",
    "research_account": R,
    "hosting_account": H,
    "bucket_policy": {"Version": "2012-10-17", "Id": "AllowCrossAccountS3Access", "Statement": [{
        "Sid": "cross-account-list-get", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{H}:root"},
        "Action": ["s3:ListBucket", "s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{H}:role/BedrockCMIExecutionRole-{H}*"}}}]},
    "objects": [
        {"key": "mistral-model-weights/config.json", "kms_key_arn": None},
        {"key": "mistral-model-weights/model.safetensors", "kms_key_arn": SRC_KEY}],
    "source_keys": [{"arn": SRC_KEY, "policy": {"Version": "2012-10-17", "Statement": [root_statement(R), {
        "Sid": "Allow use of the key by the destination account", "Effect": "Allow", "Principal": {"AWS": ROLE},
        "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"}]}}],
    "execution_role": {
        "arn": ROLE,
        "trust_policy": {"Version": "2012-10-17", "Statement": [{"Sid": "1", "Effect": "Allow",
            "Principal": {"Service": "bedrock.amazonaws.com"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": H},
                          "ArnEquals": {"aws:SourceArn": f"arn:aws:bedrock:us-east-1:{H}:model-import-job/*"}}}]},
        "inline_policies": {},
        "managed_policies": {f"arn:aws:iam::{H}:policy/BedrockCMIExecutionPolicy-{H}": {"Version": "2012-10-17", "Statement": [
            {"Sid": "1", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"],
             "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
             "Condition": {"StringEquals": {"aws:ResourceAccount": R}}},
            {"Effect": "Allow", "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": SRC_KEY},
            {"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"], "Resource": IMP_KEY}]}},
        "permissions_boundary": None},
    "imported_model_key": {"arn": IMP_KEY, "policy": {"Version": "2012-10-17", "Statement": [root_statement(H), {
        "Sid": "Allow use of the key", "Effect": "Allow", "Principal": {"AWS": ROLE},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"], "Resource": "*"}]}},
    "caller": {"arn": CALLER, "inline_policies": {"ferry-automation": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "bedrock:CreateModelImportJob", "Resource": "*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": ROLE,
         "Condition": {"StringEquals": {"iam:PassedToService": "bedrock.amazonaws.com"}}}]}},
        "managed_policies": {}, "permissions_boundary": None},
    "scps": None,
}

ALL_ALLOWED = {"trust": "allowed", "s3-list": "allowed", "s3-get": "allowed", "kms-source": "allowed",
               "kms-imported-model": "allowed", "pass-role": "allowed", "create-job": "allowed"}

def identity(s):
    return s["execution_role"]["managed_policies"][f"arn:aws:iam::{H}:policy/BedrockCMIExecutionPolicy-{H}"]["Statement"]

def mutation(name, change, **expect):
    s = copy.deepcopy(BASE)
    change(s)
    decisions = dict(ALL_ALLOWED)
    decisions.update({k.replace("_", "-"): v for k, v in expect.items()})
    return name, s, decisions

def setp(path, value):
    def change(s):
        target = s
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = value
    return change

def both(*changes):
    def change(s):
        for c in changes:
            c(s)
    return change

BP = ["bucket_policy", "Statement", 0]
FULL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
cases = [
    mutation("baseline", lambda s: None),
    mutation("wrong-principal", setp(BP + ["Principal"], {"AWS": "arn:aws:iam::444455556666:root"}), s3_list="denied", s3_get="denied"),
    mutation("arnlike-misses-role", setp(BP + ["Condition"], {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{H}:role/BedrockCMIRole*"}}), s3_list="denied", s3_get="denied"),
    mutation("missing-listbucket", setp(BP + ["Action"], "s3:GetObject"), s3_list="denied"),
    mutation("bucket-star-only", setp(BP + ["Resource"], f"arn:aws:s3:::{BUCKET}/*"), s3_list="denied"),
    mutation("no-bucket-policy", setp(["bucket_policy"], None), s3_list="denied", s3_get="denied"),
    mutation("wrong-resource-account", lambda s: identity(s)[0]["Condition"]["StringEquals"].update({"aws:ResourceAccount": "999988887777"}), s3_list="denied", s3_get="denied"),
    mutation("sourcearn-other-job-type", setp(["execution_role", "trust_policy", "Statement", 0, "Condition", "ArnEquals", "aws:SourceArn"], f"arn:aws:bedrock:us-east-1:{H}:model-customization-job/*"), trust="denied"),
    mutation("trust-wrong-service", setp(["execution_role", "trust_policy", "Statement", 0, "Principal"], {"Service": "sagemaker.amazonaws.com"}), trust="denied"),
    mutation("trust-wrong-source-account", setp(["execution_role", "trust_policy", "Statement", 0, "Condition", "StringEquals", "aws:SourceAccount"], R), trust="denied"),
    mutation("source-key-missing-grant", lambda s: s["source_keys"][0]["policy"]["Statement"].pop(1), kms_source="denied"),
    mutation("identity-missing-source-key", lambda s: identity(s).pop(1), kms_source="denied"),
    mutation("imported-key-root-delegation", lambda s: s["imported_model_key"]["policy"]["Statement"].pop(1)),
    mutation("imported-key-missing-grants", both(lambda s: s["imported_model_key"]["policy"]["Statement"].pop(1), lambda s: identity(s).pop(2)), kms_imported_model="denied"),
    mutation("viaservice-other-region", setp(["source_keys", 0, "policy", "Statement", 1, "Condition"], {"StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}}), kms_source="denied"),
    mutation("viaservice-this-region", setp(["source_keys", 0, "policy", "Statement", 1, "Condition"], {"StringEquals": {"kms:ViaService": "s3.us-east-1.amazonaws.com", "kms:CallerAccount": H}})),
    mutation("boundary-s3-only", setp(["execution_role", "permissions_boundary"], {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}), kms_source="denied", kms_imported_model="denied"),
    mutation("boundary-full", setp(["execution_role", "permissions_boundary"], FULL)),
    mutation("scp-denies-kms-decrypt", setp(["scps"], {H: [FULL, [FULL, {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]}]]}), kms_source="denied", kms_imported_model="denied"),
    mutation("scp-level-without-bedrock", setp(["scps"], {H: [FULL, {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:*", "kms:*", "iam:*"], "Resource": "*"}]}]}), create_job="denied"),
    mutation("scp-on-research-account-only", setp(["scps"], {R: [{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}]})),
    mutation("notprincipal-deny-excludes-role", lambda s: s["bucket_policy"]["Statement"].append({"Sid": "OnlyBedrockRole", "Effect": "Deny", "NotPrincipal": {"AWS": [ROLE, f"arn:aws:iam::{H}:root"]}, "Action": "s3:*", "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]})),
    mutation("notprincipal-deny-with-boundary", both(lambda s: s["bucket_policy"]["Statement"].append({"Sid": "OnlyBedrockRole", "Effect": "Deny", "NotPrincipal": {"AWS": [ROLE]}, "Action": "s3:*", "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}), setp(["execution_role", "permissions_boundary"], FULL)), s3_list="denied", s3_get="denied"),
    mutation("explicit-deny-insecure-transport", lambda s: s["bucket_policy"]["Statement"].append({"Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}})),
    mutation("explicit-deny-outside-org", both(setp(["organizations"], {R: "o-research1", H: "o-hosting2"}), lambda s: s["bucket_policy"]["Statement"].append({"Sid": "OrgOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{BUCKET}/*", "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "o-research1"}}})), s3_get="denied"),
    mutation("partition-mismatch", both(setp(["region"], "us-gov-west-1"), setp(["execution_role", "arn"], f"arn:aws-us-gov:iam::{H}:role/BedrockCMIExecutionRole-{H}")), trust="denied", s3_list="denied", s3_get="denied", kms_source="denied", kms_imported_model="denied", pass_role="denied"),
    mutation("action-case-insensitive", lambda s: identity(s)[0].update({"Action": ["S3:listbucket", "s3:GETOBJECT"]})),
    mutation("arn-case-sensitive", setp(BP + ["Resource"], [f"arn:aws:s3:::Model-Artifacts-{R}", f"arn:aws:s3:::Model-Artifacts-{R}/*"]), s3_list="denied", s3_get="denied"),
    mutation("missing-passrole", lambda s: s["caller"]["inline_policies"]["ferry-automation"]["Statement"].pop(1), pass_role="denied"),
    mutation("passrole-wrong-service", setp(["caller", "inline_policies", "ferry-automation", "Statement", 1, "Condition", "StringEquals", "iam:PassedToService"], "sagemaker.amazonaws.com"), pass_role="denied"),
    mutation("unencrypted-no-keys", both(lambda s: [o.update({"kms_key_arn": None}) for o in s["objects"]], setp(["source_keys"], None), setp(["imported_model_key"], None), setp(["caller"], None)), kms_source="skipped", kms_imported_model="skipped", pass_role="skipped", create_job="skipped"),
    mutation("prefix-scoped-grants", both(setp(BP + ["Resource"], [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/mistral-model-weights/*"]), lambda s: s["bucket_policy"]["Statement"][0]["Condition"].update({"StringLikeIfExists": {"s3:prefix": "mistral-model-weights/*"}}))),
    mutation("prefix-scoped-to-other-folder", setp(BP + ["Resource"], [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/other-models/*"]), s3_get="denied"),
    mutation("policy-variable-account-folder", both(setp(["source_uri"], f"s3://{BUCKET}/{H}/"), lambda s: [o.update({"key": o["key"].replace("mistral-model-weights", H)}) for o in s["objects"]], lambda s: identity(s).__setitem__(0, {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/${{aws:PrincipalAccount}}/*"]}))),
]

GOV_ROLE = f"arn:aws-us-gov:iam::{H}:role/BedrockCMIExecutionRole-{H}"
cases += [
    # Found in review: each made Ferry say "allowed" where AWS denies.
    mutation("deny-unresolved-variable-negated", both(setp(["organizations"], {H: "o-hosting2"}), lambda s: s["bucket_policy"]["Statement"].append({"Sid": "SameOrgOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"], "Condition": {"StringNotEquals": {"aws:PrincipalOrgID": "${aws:ResourceOrgID}"}}})), s3_list="denied", s3_get="denied"),
    mutation("notprincipal-role-without-account", lambda s: s["bucket_policy"]["Statement"].append({"Sid": "OnlyBedrockRole", "Effect": "Deny", "NotPrincipal": {"AWS": [ROLE]}, "Action": "s3:*", "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"]}), s3_list="denied", s3_get="denied"),
    mutation("literal-star-variable", setp(BP + ["Resource"], [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/mistral-model-weights/${{*}}"]), s3_get="denied"),
    mutation("date-with-offset-deny", lambda s: identity(s).append({"Sid": "NoDecryptAfter2020", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*", "Condition": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00-08:00"}}}), kms_source="denied", kms_imported_model="denied"),
    mutation("foranyvalue-ifexists-absent-key", lambda s: s["bucket_policy"]["Statement"][0]["Condition"].update({"ForAnyValue:StringLikeIfExists": {"aws:TagKeys": ["x*"]}})),
    mutation("bare-account-other-partition", both(setp(["execution_role", "arn"], GOV_ROLE), setp(BP + ["Principal"], {"AWS": H}), lambda s: s["bucket_policy"]["Statement"][0].pop("Condition"), lambda s: identity(s).__setitem__(0, {"Effect": "Allow", "Action": "s3:*", "Resource": "*"})), s3_list="denied", s3_get="denied", kms_source="denied", kms_imported_model="denied", pass_role="denied"),
]

expected = {}
for name, scenario, decisions in cases:
    with open(os.path.join(HERE, f"{name}.json"), "w") as f:
        json.dump(scenario, f, indent=2)
        f.write("\n")
    expected[name] = decisions
with open(os.path.join(HERE, "expected.json"), "w") as f:
    json.dump(expected, f, indent=2, sort_keys=True)
    f.write("\n")
print(f"wrote {len(cases)} scenarios")
