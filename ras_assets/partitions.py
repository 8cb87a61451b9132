from dagster import DynamicPartitionsDefinition

from ras_platform.dagster_client import RECORDINGS_PARTITIONS

# One partition per registered recording; added at registration (CLI or API), never listed on a
# hot path (dagster-notes.md: listing 100k partitions costs a quarter of a second).
recordings_partitions = DynamicPartitionsDefinition(name=RECORDINGS_PARTITIONS)
