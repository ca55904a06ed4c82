"""Raw and curated buckets for the data lake, plus the role the nightly loader assumes."""

import json

import pulumi
import pulumi_aws as aws


class ReplicatedBucket(pulumi.ComponentResource):
    """A bucket with versioning and a copy of another bucket's layout."""

    def __init__(self, name: str, source: aws.s3.BucketV2, opts: pulumi.ResourceOptions | None = None):
        super().__init__("datalake:storage:ReplicatedBucket", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.bucket = aws.s3.BucketV2(f"{name}-bucket", tags={"copy_of": source.bucket}, opts=child)
        aws.s3.BucketVersioningV2(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningV2VersioningConfigurationArgs(status="Enabled"),
            opts=child,
        )
        self.bucket_arn = self.bucket.arn
        self.register_outputs({"bucket_arn": self.bucket_arn})


config = pulumi.Config()
retention_days = config.get_int("retention_days") or 30

raw = aws.s3.BucketV2("raw-data", force_destroy=False, tags={"layer": "raw"})

aws.s3.BucketLifecycleConfigurationV2(
    "raw-expiry",
    bucket=raw.id,
    rules=[
        aws.s3.BucketLifecycleConfigurationV2RuleArgs(
            id="expire-raw",
            status="Enabled",
            expiration=aws.s3.BucketLifecycleConfigurationV2RuleExpirationArgs(days=retention_days),
        )
    ],
)

curated = ReplicatedBucket("curated-data", source=raw)

loader_role = aws.iam.Role(
    "loader",
    assume_role_policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                       "Principal": {"Service": "glue.amazonaws.com"}}],
    }),
)

access_policy = pulumi.Output.all(raw.arn, curated.bucket_arn).apply(
    lambda arns: json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                       "Resource": [f"{arn}/*" for arn in arns]}],
    })
)

aws.iam.RolePolicy("loader-access", role=loader_role.id, policy=access_policy)

pulumi.export("raw_bucket", raw.bucket)
pulumi.export("curated_bucket_arn", curated.bucket_arn)
