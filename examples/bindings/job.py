"""A cron-driven job: each tick of the ``tick`` input binding writes a report through the ``reports`` output binding.

    tandem run --app-id cron-job --app-port 6003 --resources-path components -- python job.py

The app has no timer and no file handling of its own: the sidecar calls ``POST /tick`` on the
schedule of ``components/tick.yaml`` (after asking ``OPTIONS /tick``, which `tandem.App`
answers for every ``@app.binding``), and the handler hands the report to the sidecar, whose
``bindings.localstorage`` component writes it under its ``rootPath``. Swap either component
for another (Kafka in, S3 out …) and this code stays the same.
"""
from __future__ import annotations

import itertools

from starlette.requests import Request

from tandem import App, Client

app = App(app_id="cron-job")
ticks = itertools.count(1)


@app.binding("tick")
async def on_tick(request: Request, sidecar: Client) -> None:
    """One tick: Dapr's cron binding sends no body, only the ``readTimeUTC`` and ``timeZone`` headers.

    `sidecar` is the app's one client (from ``DAPR_HTTP_PORT``, set by `tandem run`), opened
    when the app starts and closed when it stops.
    """
    n = next(ticks)
    report = {"tick": n, "readTimeUTC": request.headers.get("readTimeUTC"), "app": "cron-job"}
    result = await sidecar.invoke_binding("reports", "create", report, {"fileName": f"tick-{n:04d}.json"})
    # Returning (a 2xx) tells the sidecar the event was handled; raising answers 500.
    print(f"tick {n}: wrote {result.json()['fileName']}", flush=True)


if __name__ == "__main__":
    app.run()  # on $APP_PORT, set by `tandem run --app-port`
