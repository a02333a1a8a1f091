"""Reads a Variable and a Connection in its own worker: its own prefix, the global Variables after."""

from datetime import datetime

from orchestrator import dag, task


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def reader():
    @task
    def read() -> dict:
        from orchestrator.secrets import Connection, Variable

        return {"colour": Variable.get("colour"), "shared": Variable.get("shared_only"),
                "host": Connection.get("db").host}

    read()


reader()
