"""python -m deploy {plan,deploy,rollback,destroy} --stage STAGE [--release ID]
(make plan / deploy / rollback / destroy, ./deploy.sh and ./rollback.sh call this)."""

from __future__ import annotations

import argparse
import sys

from .deployer import Deployer, DeployError
from .package import PackageError
from .terraform import TerraformFailed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    parser.add_argument("command", choices=["plan", "deploy", "rollback", "destroy", "releases"])
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--release", help="rollback: the release id to re-apply (default: the previous one)")
    args = parser.parse_args(argv)
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
