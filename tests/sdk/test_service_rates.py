"""The service's rate budgets, as pure parts on a clock of their own: the token bucket per
client address (service.buckets), a tenant's fair share of the CPU (service.shares) and
whether the service is contended (service.lag)."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from connector.sdk.cli import Invocation
from connector.sdk.errors import RateLimited
from connector.sdk.service import cli
from connector.sdk.service.buckets import TokenBuckets
from connector.sdk.service.lag import LoopLag
from connector.sdk.service.settings import CONFIG_ENV, Settings
from connector.sdk.service.shares import RECHECK, CpuShares, Meter

SERVE = Invocation(prog="connector", command="serve", connector=None, source=None, bound=False)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# --- token buckets -------------------------------------------------------------------------------


def test_a_bucket_gives_its_burst_then_its_rate_and_says_when_the_next_token_comes():
    clock = Clock()
    buckets = TokenBuckets(8, 3, clock=clock)  # (times in eighths: exact in binary)
    assert [buckets.take("a") for _ in range(3)] == [0, 0, 0]
    assert buckets.take("a") == 0.125  # a token every 1/8 s
    assert buckets.take("b") == 0  # another key has its own
    clock.now += 0.0625
    assert buckets.take("a") == 0.0625  # a refusal takes nothing
    clock.now += 0.0625
    assert buckets.take("a") == 0
    assert buckets.take("a") == 0.125


def test_a_bucket_never_holds_more_than_its_burst():
    clock = Clock()
    buckets = TokenBuckets(100, 5, clock=clock)
    buckets.take("a")
    clock.now += 3600
    assert [buckets.take("a") for _ in range(6)].count(0) == 5


def test_buckets_that_filled_up_again_are_forgotten_and_the_count_is_capped():
    clock = Clock()
    buckets = TokenBuckets(10, 2, keys=100, clock=clock)
    for n in range(50):
        buckets.take(f"10.0.0.{n}")
    assert len(buckets) == 50
    clock.now += 0.2  # every one is full again: as if never seen
    buckets.take("10.0.1.1")
    assert len(buckets) == 1
    for n in range(1000):  # many addresses at once: the least recently charged go first
        buckets.take(f"10.1.{n // 256}.{n % 256}")
    assert len(buckets) == 100


def test_a_bucket_needs_a_rate_and_a_burst():
    with pytest.raises(ValueError, match="rate over 0"):
        TokenBuckets(0, 10)
    with pytest.raises(ValueError, match="burst of at least 1"):
        TokenBuckets(1, 0)


# --- fair shares ---------------------------------------------------------------------------------


def shares(clock: Clock, contended: bool = True, **kwargs) -> CpuShares:
    kwargs.setdefault("floor", 0.05)
    return CpuShares(lambda: contended, clock=clock, sleep=clock.sleep, **kwargs)


def test_use_reads_as_a_recent_cpu_rate_and_decays():
    clock = Clock()
    cpu = shares(clock)
    for _ in range(1000):  # 0.3 cores for 10 s, charged every 10 ms
        cpu.charge("a", 0.003)
        clock.now += 0.01
    assert cpu.rate("a") == pytest.approx(0.3, rel=0.02)
    clock.now += 1.0  # a second later: divided by e
    assert cpu.rate("a") == pytest.approx(0.3 / math.e, rel=0.02)
    assert cpu.rate("never-seen") == 0


def test_a_tenant_alone_never_waits_however_heavy():
    clock = Clock()
    cpu = shares(clock)
    cpu.charge("heavy", 5.0)
    assert cpu.wait("heavy") == 0


def test_while_contended_the_heavy_tenant_waits_and_the_light_one_goes():
    clock = Clock()
    cpu = shares(clock)
    cpu.charge("light", 0.01)  # 0.01 cores, under the floor (0.05)
    cpu.charge("heavy", 0.6)
    assert cpu.wait("light") == 0
    wait = cpu.wait("heavy")
    assert 0 < wait <= RECHECK
    clock.now += 5  # its use decays: within its share again
    assert cpu.wait("heavy") == 0


def test_nobody_waits_while_the_service_is_not_contended():
    clock = Clock()
    cpu = shares(clock, contended=False)
    cpu.charge("light", 0.01)
    cpu.charge("heavy", 0.9)
    assert cpu.wait("heavy") == 0


def test_the_share_is_the_mean_of_the_active_tenants_or_the_floor():
    clock = Clock()
    cpu = shares(clock, floor=0.05)
    cpu.charge("a", 0.04)
    cpu.charge("b", 0.04)
    assert cpu.wait("a") == 0  # over the mean (0.04 each) but under the floor
    cpu.charge("c", 0.30)
    cpu.charge("d", 0.10)  # mean (0.48 / 4): 0.12
    assert cpu.wait("d") == 0
    assert cpu.wait("c") == pytest.approx(min(RECHECK, math.log(0.30 / 0.12)), rel=0.01)


def test_a_tenant_not_seen_for_a_while_is_no_longer_active():
    clock = Clock()
    cpu = shares(clock, active_for=10)
    cpu.charge("gone", 0.001)
    cpu.charge("heavy", 0.5)
    assert cpu.wait("heavy") > 0  # two active tenants
    clock.now += 11
    cpu.charge("heavy", 0.5)
    assert cpu.wait("heavy") == 0  # alone again


def test_a_turn_waits_until_the_share_allows_it():
    clock = Clock()
    cpu = shares(clock)
    cpu.charge("light", 0.01)
    cpu.charge("heavy", 0.6)
    started = clock.now
    asyncio.run(cpu.turn("heavy", timeout=60))
    assert clock.slept and all(0 < s <= RECHECK for s in clock.slept)
    assert cpu.wait("heavy") == 0
    # It waited until its use decayed to the mean (0.6 * e^-t = (0.6 e^-t + light) / 2).
    assert 1.5 < clock.now - started < 5


def test_a_turn_past_the_deadline_is_refused_after_the_pause_with_a_time_to_wait():
    clock = Clock()
    cpu = shares(clock, pause=1.0)
    cpu.charge("light", 0.01)
    cpu.charge("heavy", 0.6)
    with pytest.raises(RateLimited) as info:
        asyncio.run(cpu.turn("heavy", timeout=0.01))
    assert clock.slept == [1.0]  # held, then refused: a client retrying at once cannot spin
    assert info.value.details == [{"retryAfterSeconds": 1}]
    assert "share" in info.value.message


def test_at_most_queue_requests_of_a_tenant_wait():
    async def scenario() -> list[object]:
        never = asyncio.Event()

        async def sleep(seconds: float) -> None:
            if seconds:  # a wait for the share: until cancelled
                await never.wait()

        cpu = CpuShares(lambda: True, floor=0.05, queue=2, pause=0.0, sleep=sleep)
        cpu.charge("light", 0.01)
        cpu.charge("heavy", 5.0)
        waiting = [asyncio.ensure_future(cpu.turn("heavy", 60)) for _ in range(2)]
        await asyncio.sleep(0)
        third = await asyncio.gather(cpu.turn("heavy", 60), return_exceptions=True)
        counted = dict(cpu._waiting)
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        return [*third, counted, cpu._waiting]

    refused, counted, left = asyncio.run(scenario())
    assert isinstance(refused, RateLimited)
    assert counted == {"heavy": 2}
    assert left == {}  # cancelled waits leave nothing counted


def test_a_meter_adds_up_thread_cpu_time_section_by_section():
    meter = Meter()
    with meter:
        ends = time.thread_time() + 0.02
        while time.thread_time() < ends:
            pass
    time.sleep(0.05)  # not in a section, and not CPU anyway
    with meter:
        pass
    assert 0.02 <= meter.seconds < 0.5


# --- contention ----------------------------------------------------------------------------------


def test_one_late_tick_is_not_contention_but_a_run_of_them_is():
    lag = LoopLag(span=8, late=0.002)
    for _ in range(40):
        lag.noted(0.0003)  # quiet: ticks a fraction of a millisecond late
    assert not lag.contended()
    lag.noted(0.008)  # one late tick (a burst, a garbage collection)
    assert not lag.contended()
    for _ in range(4):
        lag.noted(0.006)  # late again and again: requests queue
    assert lag.contended()
    for _ in range(16):
        lag.noted(0.0003)
    assert not lag.contended()  # ~400 ms of quiet ticks later
    assert lag.taken() == 0.008 and lag.taken() == 0


def test_a_lag_of_zero_means_always_contended():
    lag = LoopLag(late=0)  # (--contended-lag 0)
    assert lag.contended()


def test_ticks_on_a_held_loop_run_late():
    async def scenario() -> LoopLag:
        lag = LoopLag(every=0.01, span=2, late=0.005)
        lag.start(asyncio.get_running_loop())
        await asyncio.sleep(0.05)
        ends = time.monotonic() + 0.1
        while time.monotonic() < ends:  # the loop held for 100 ms
            pass
        await asyncio.sleep(0.001)  # (the tick due meanwhile runs now)
        lag.stop()
        return lag

    lag = asyncio.run(scenario())
    assert lag.contended()
    assert lag.taken() >= 0.05  # (a tick due within the 100 ms ran at its end)


# --- the options ---------------------------------------------------------------------------------


def test_the_options_default_to_the_settings_and_travel_to_the_workers(monkeypatch):
    args = cli.parser(SERVE).parse_args([])
    defaults = Settings()
    assert (args.unauthenticated_rate, args.unauthenticated_burst) == (100.0, 200)
    assert (args.fair_share, args.share_floor, args.contended_lag) == (True, 0.1, 0.001)
    assert defaults.unauthenticated_rate == args.unauthenticated_rate
    assert (defaults.max_body_elements, defaults.refusal_pause) == (10_000, 1.0)
    args = cli.parser(SERVE).parse_args(["--no-fair-share", "--unauthenticated-rate", "0"])
    assert (args.fair_share, args.unauthenticated_rate) == (False, 0)
    settings = Settings(fair_share=False, share_floor=0.2, unauthenticated_rate=5)
    monkeypatch.setenv(CONFIG_ENV, settings.to_env())
    assert Settings.from_env() == settings


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--unauthenticated-rate", "-1", "--unauthenticated-rate must be 0 (no limit) or more"),
        ("--unauthenticated-burst", "0", "--unauthenticated-burst must be at least 1"),
        ("--share-floor", "-0.1", "--share-floor must be 0 or more"),
        ("--contended-lag", "-1", "--contended-lag must be 0 (always) or more"),
    ],
)
def test_a_rate_option_out_of_range_is_named_before_anything_starts(option, value, problem):
    args = cli.parser(SERVE).parse_args(["--no-auth", option, value])
    assert cli._problem(args) == problem
