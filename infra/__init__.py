"""The Pulumi side of bo1-infra: the only package that imports pulumi.

settings    the validated stack settings (pydantic; no pulumi import)
specs/      pure functions: settings -> container specs, redis.conf, ACLs, postgres settings
components/ ComponentResources that render specs into pulumi-docker resources
program     the Pulumi program that __main__.py runs
"""
