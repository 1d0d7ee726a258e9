"""Releases: each deploy is an immutable copy of the package (deployment.zip and the Terraform
that deploys it) with an id and the git revision, kept locally under build/releases/<stage>/ and,
when LIVEINSIGHT_RELEASE_BUCKET is set, in S3. Rollback re-applies one of them as it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
RELEASES_DIR = PROJECT_DIR / "build" / "releases"
CURRENT = "CURRENT"


@dataclass(frozen=True)
class Release:
    release_id: str
    stage: str
    git_revision: str
    created_at: str
    directory: str

    @property
    def path(self) -> Path:
        return Path(self.directory)


def git_revision() -> str:
    result = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True)
    revision = result.stdout.strip() if result.returncode == 0 else "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=PROJECT_DIR, capture_output=True, text=True).stdout
    return revision + ("-dirty" if dirty.strip() else "")


class ReleaseStore:
    def __init__(self, stage: str, root: Path = RELEASES_DIR, s3_client=None, bucket: str | None = None) -> None:
        self.stage = stage
        self.root = root / stage
        self._s3 = s3_client
        self._bucket = bucket if bucket is not None else os.environ.get("LIVEINSIGHT_RELEASE_BUCKET")

    def create(self, package_dir: Path, now: datetime | None = None) -> Release:
        moment = now or datetime.now(timezone.utc)
        revision = git_revision()
        release_id = f"{moment:%Y%m%dT%H%M%SZ}-{revision.split('-')[0]}"
        target = self.root / release_id
        shutil.copytree(package_dir, target, ignore=shutil.ignore_patterns(".terraform", "*.tfplan"))
        release = Release(release_id, self.stage, revision, moment.isoformat(), str(target))
        (target / "release.json").write_text(json.dumps(asdict(release), indent=2) + "\n")
        for path in target.rglob("*"):  # immutable: nothing edits a release in place
            path.chmod(path.stat().st_mode & ~0o222)
        if self._bucket:
            self._upload(release)
        return release

    def _upload(self, release: Release) -> None:
        client = self._s3
        if client is None:
            import boto3

            client = boto3.client("s3")
        with tempfile.TemporaryDirectory() as scratch:
            archive = Path(scratch) / f"{release.release_id}.tar.gz"
            with tarfile.open(archive, "w:gz") as tar:
                tar.add(release.path, arcname=release.release_id)
            client.upload_file(str(archive), self._bucket, f"liveinsight/releases/{self.stage}/{archive.name}")

    def all(self) -> list[Release]:
        if not self.root.exists():
            return []
        found = [json.loads((d / "release.json").read_text()) for d in self.root.iterdir()
                 if (d / "release.json").exists()]
        return sorted((Release(**r) for r in found), key=lambda r: r.release_id)

    def get(self, release_id: str) -> Release:
        for release in self.all():
            if release.release_id == release_id:
                return release
        raise LookupError(f"no release {release_id!r} of stage {self.stage} (have: "
                          f"{', '.join(r.release_id for r in self.all()) or 'none'})")

    def current(self) -> Release | None:
        marker = self.root / CURRENT
        return self.get(marker.read_text().strip()) if marker.exists() else None

    def mark_current(self, release: Release) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / CURRENT).write_text(release.release_id + "\n")

    def previous(self) -> Release:
        """The release deployed before the current one."""
        current = self.current()
        older = [r for r in self.all() if current is None or r.release_id < current.release_id]
        if not older:
            raise LookupError(f"no release of stage {self.stage} before "
                              f"{current.release_id if current else 'the current one'} to roll back to")
        return older[-1]
