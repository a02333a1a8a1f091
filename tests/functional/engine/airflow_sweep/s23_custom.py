from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from airflow.sdk import DAG, BaseOperator, Context


class UploadOperator(BaseOperator):
    template_fields: Sequence[str] = ("bucket", "key")
    template_fields_renderers = {"key": "py"}
    ui_color = "#ffefeb"

    def __init__(self, *, bucket: str, key: str, rows: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bucket = bucket
        self.key = key
        self.rows = rows

    def execute(self, context: Context):
        self.log.info("uploading %s rows to s3://%s/%s", self.rows, self.bucket, self.key)
        context["ti"].xcom_push(key="uri", value=f"s3://{self.bucket}/{self.key}")
        return {"rows": self.rows}


with DAG("s23_custom", schedule=None, start_date=datetime(2026, 1, 1), params={"bucket": "lake"}) as dag:
    up = UploadOperator(task_id="upload", bucket="{{ params.bucket }}", key="raw/{{ ds_nodash }}.csv", rows=3)
    up2 = UploadOperator.partial(task_id="upload_many", bucket="lake").expand(key=["a", "b"])
    up >> up2
