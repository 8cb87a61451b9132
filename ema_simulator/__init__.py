"""The bundled EMA double: EMA's v2/v3 job API with callbacks, uploads and injectable faults."""
