"""Words the flows write to their log for machines to find (standard library only).

The CDK app's runner turns each into a CloudWatch metric with a log metric
filter (infra/runner.py), so an alarm can tell that the transform stopped
finishing without the flows calling CloudWatch themselves.
"""

from __future__ import annotations

# Written once by every transform flow run that finished its dbt build (whether
# its tests passed or not: the alarm is about a pipeline that stopped, the
# data-test alerts are about the data).
TRANSFORM_FINISHED = "streamlake-transform-finished"
