"""What AWS accepts, written down from AWS's references, so a document Terraform renders (or a line the
app prints) is checked before AWS would reject it. Each check returns a list of problems ([] = valid)."""

from tests.infrastructure.aws_formats.dashboards import dashboard_body_problems, metric_math_problems
from tests.infrastructure.aws_formats.emf import emf_problems, emitted_metrics
from tests.infrastructure.aws_formats.iam import iam_policy_problems

__all__ = ["dashboard_body_problems", "emf_problems", "emitted_metrics", "iam_policy_problems",
           "metric_math_problems"]
