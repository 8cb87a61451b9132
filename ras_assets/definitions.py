"""The code location: loads assets, jobs and sensors and applies project-wide policy.

Resources come from `Settings` (environment variables), the one place deciding embedded vs production,
through the one composition root (`ras_platform.platform`).
"""

from dagster import Definitions, in_process_executor

from ras_assets.imports import import_recordings
from ras_assets.jobs import import_processed_job, trigger_ema_jobs
from ras_assets.processed import processed_assets
from ras_assets.raw import raw_asset_specs
from ras_assets.recording import recording, validate_recordings
from ras_assets.training import training_clips, training_dataset, training_dataset_job
from ras_assets.video import process_video_job, uploads_area, video, video_renditions
from resources import platform_resources
from sensors.alerts import failure_alerts_sensor
from sensors.dispatch import dispatch_sensor
from sensors.domain_events import domain_events_sensor
from sensors.ema_callbacks import ema_callback_sensor
from sensors.recording_state import recording_state_sensor
from sensors.training_dataset import training_dataset_sensor
from sensors.uploads import upload_sensor

defs = Definitions(
    assets=[
        recording,
        *raw_asset_specs,
        *processed_assets,
        uploads_area,
        video,
        video_renditions,
        training_clips,
        training_dataset,
    ],
    jobs=[
        validate_recordings,
        import_processed_job,
        import_recordings,
        trigger_ema_jobs,
        process_video_job,
        training_dataset_job,
    ],
    sensors=[
        ema_callback_sensor,
        dispatch_sensor,
        domain_events_sensor,
        failure_alerts_sensor,
        upload_sensor,
        recording_state_sensor,
        training_dataset_sensor,
    ],
    resources=platform_resources(),
    # Steps are light and runs are many: the in-process executor saves ~2 s per run (dagster-notes.md).
    executor=in_process_executor,
)
