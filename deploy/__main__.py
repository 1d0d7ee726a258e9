"""python -m deploy {preflight,plan,deploy,rollback,destroy,releases} --stage STAGE [--release ID]
(make plan / deploy / rollback / destroy, ./deploy.sh and ./rollback.sh call this). Every command but
`releases` runs the preflight first; `preflight` runs it alone (exit 1 with the list of problems)."""

from __future__ import annotations

import argparse
import sys

from . import preflight
from .deployer import Deployer, DeployError
from .package import PackageError
from .terraform import TerraformFailed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    parser.add_argument("command", choices=["preflight", "plan", "deploy", "rollback", "destroy", "releases"])
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--release", help="rollback: the release id to re-apply (default: the previous one)")
    args = parser.parse_args(argv)
    if args.command == "preflight":
        findings = preflight.run(args.stage, "deploy")
        print(preflight.report(args.stage, findings) if findings else f"preflight of stage {args.stage}: ready "
              "to deploy", file=sys.stderr if findings else sys.stdout)
        return 1 if findings else 0
    deployer = Deployer(args.stage)
    try:
        if args.command == "plan":
            deployer.plan()
        elif args.command == "deploy":
            deployer.deploy()
        elif args.command == "rollback":
            deployer.rollback(args.release)
        elif args.command == "destroy":
            deployer.destroy()
        else:
            current = deployer.releases.current()
            for release in deployer.releases.all():
                marker = "*" if current and release.release_id == current.release_id else " "
                print(f"{marker} {release.release_id}  git {release.git_revision}  {release.created_at}")
    except (DeployError, PackageError, TerraformFailed, LookupError) as exc:
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
