"""`python -m app.simulator`: serve the simulated external APIs until interrupted."""

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Callable

from app.simulator.server import Simulator


def _parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m app.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--latency-scale", type=float, default=1.0)
    parser.add_argument("--error-rate", type=float, default=0.03)
    parser.add_argument("--drift-rate", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=None)
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # SIGTERM (docker stop, systemd) should close as cleanly as Ctrl-C does.
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with Simulator(
        args.host,
        args.port,
        latency_scale=args.latency_scale,
        error_rate=args.error_rate,
        drift_rate=args.drift_rate,
        seed=args.seed,
    ) as sim:
        print(f"simulator listening on {sim.url}", flush=True)
        await stop.wait()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    with (
        contextlib.suppress(KeyboardInterrupt),
        asyncio.Runner(loop_factory=_loop_factory()) as runner,
    ):
        runner.run(_serve(args))


if __name__ == "__main__":
    main()
