"""Runner plumbing without processes: configuration, Locust command lines, the journal mirror,
the report's Markdown and charts, the headline's scenarios and targets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadtests.config import ENV_PREFIX, USER_CLASSES, ConfigError, LoadConfig
from loadtests.experiment import Experiment
from loadtests.headline import (
    CAPACITY,
    SCENARIO_DIR,
    HeadlineOptions,
    headline_experiments,
    headline_targets,
    scale_scenario,
)
from loadtests.render import CHARTS, Target, draw_charts, markdown_table, targets_table
from loadtests.report import Series, StrategySummary, Window
from loadtests.runner import RunError, RunSpec, _JournalMirror, _locust_commands
from loadtests.strategies import STRATEGIES
from scenarios.loader import load_scenario


def _config(**kw: Any) -> LoadConfig:
    base: dict[str, Any] = {
        "strategy": "sdk-defaults",
        "mode": "open",
        "shape": "spike:factor=3",
        "rate": 12.5,
        "duration": 30.0,
        "t0": 1_700_000_000.25,
        "seed": 7,
    }
    base.update(kw)
    return LoadConfig(**base)


def test_load_config_survives_the_trip_through_the_environment() -> None:
    cfg = _config(arrival_users=3, timeout_s=2.5, model="claude-x")
    env = cfg.to_env()
    assert all(k.startswith(ENV_PREFIX) for k in env)
    assert LoadConfig.from_env(env) == cfg


def test_load_config_names_what_is_missing_or_wrong() -> None:
    env = _config().to_env()
    del env[ENV_PREFIX + "SEED"]
    with pytest.raises(ConfigError, match="BUSYSIGNAL_LT_SEED is not set"):
        LoadConfig.from_env(env)
    env = _config().to_env() | {ENV_PREFIX + "RATE": "fast"}
    with pytest.raises(ConfigError, match="BUSYSIGNAL_LT_RATE should be a float"):
        LoadConfig.from_env(env)
    with pytest.raises(ConfigError, match="unknown strategy"):
        _config(strategy="hope")
    with pytest.raises(ConfigError, match="an open loop needs rate > 0"):
        _config(rate=0)
    with pytest.raises(ValueError, match="unknown load shape"):
        _config(shape="tsunami")


def test_the_schedule_is_the_union_of_what_each_arrival_user_draws() -> None:
    from loadtests.shapes import arrival_times

    cfg = _config(arrival_users=3, shape="steady", rate=30.0, duration=10.0)
    share = cfg.load_shape().scaled(1 / 3)
    per_user = [list(arrival_times(share, cfg.arrival_rng(w))) for w in range(3)]
    assert cfg.schedule() == sorted(t for times in per_user for t in times)
    assert len(set(map(tuple, per_user))) == 3  # each worker draws its own arrivals
    assert _config(mode="closed", rate=0).schedule() == []


def test_every_strategy_has_a_user_class() -> None:
    assert set(STRATEGIES) <= set(USER_CLASSES)


def test_run_spec_refuses_ambiguous_or_impossible_loads(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="exactly one of rate"):
        RunSpec(scenario="steady", strategy="no-retry", duration=5, out=tmp_path, rate=5, users=5)
    with pytest.raises(RunError, match="exactly one of rate"):
        RunSpec(scenario="steady", strategy="no-retry", duration=5, out=tmp_path)
    with pytest.raises(RunError, match="unknown strategy"):
        RunSpec(scenario="steady", strategy="yolo", duration=5, out=tmp_path, rate=5)
    with pytest.raises(RunError, match="closed-loop only"):
        RunSpec(scenario="steady", strategy="raw", duration=5, out=tmp_path, rate=5)
    with pytest.raises(RunError, match="cannot be spread"):
        RunSpec(scenario="steady", strategy="no-retry", duration=5, out=tmp_path, users=2, workers=3)
    with pytest.raises(RunError, match="startup must be a finite number of seconds >= 0, got -1"):
        RunSpec(scenario="steady", strategy="no-retry", duration=5, out=tmp_path, rate=5, startup_s=-1)


def test_the_startup_time_is_the_runners_default_unless_given(tmp_path: Path) -> None:
    exp = Experiment("e", "t", "steady", ("no-retry",), duration=5, rate=5, workers=2)
    assert exp.spec("no-retry", tmp_path).startup == 4.0 + 2
    assert replace(exp, startup_s=20).spec("no-retry", tmp_path).startup == 20


def test_a_single_process_run_is_one_headless_locust_with_the_strategy_user(tmp_path: Path) -> None:
    spec = RunSpec(scenario="steady", strategy="bundled", duration=5, out=tmp_path, rate=10)
    (cmd,) = _locust_commands(spec, "http://127.0.0.1:1", tmp_path / "locust", 20)
    assert cmd[-1] == "BundledPolicyUser"
    assert "--headless" in cmd and "--master" not in cmd
    assert cmd[cmd.index("-u") + 1] == "1"  # one open-loop arrival user
    assert cmd[cmd.index("--run-time") + 1] == "20s"


def test_workers_mean_a_master_and_that_many_workers_with_one_arrival_user_each(tmp_path: Path) -> None:
    spec = RunSpec(scenario="steady", strategy="no-retry", duration=5, out=tmp_path, rate=10, workers=3)
    master, *workers = _locust_commands(spec, "http://127.0.0.1:1", tmp_path / "locust", 20)
    assert len(workers) == 3
    assert "--master" in master and master[master.index("--expect-workers") + 1] == "3"
    assert master[master.index("-u") + 1] == "3"
    port = master[master.index("--master-bind-port") + 1]
    for w in workers:
        assert "--worker" in w and w[w.index("--master-port") + 1] == port and w[-1] == "NoRetryUser"
    assert spec.load_config(0.0).arrival_users == 3


class FakeControl:
    """Serves journal snapshots: each poll returns the entries at seq >= since_seq."""

    def __init__(self) -> None:
        self.entries: dict[int, dict[str, Any]] = {}
        self.asked: list[int] = []

    def journal(self, since_seq: int) -> list[dict[str, Any]]:
        self.asked.append(since_seq)
        return [dict(e) for s, e in sorted(self.entries.items()) if s >= since_seq]


def test_the_journal_mirror_refetches_entries_that_were_in_flight() -> None:
    control = FakeControl()
    control.entries = {0: {"seq": 0, "end": 1.0}, 1: {"seq": 1, "end": None}, 2: {"seq": 2, "end": 2.0}}
    mirror = _JournalMirror(control)  # type: ignore[arg-type]
    mirror.poll()
    control.entries[1] = {"seq": 1, "end": 3.0, "status": 200}
    control.entries[3] = {"seq": 3, "end": None}
    mirror.poll()
    assert control.asked == [0, 1]
    assert [e["end"] for e in mirror.entries()] == [1.0, 3.0, 2.0, None]
    mirror.poll()
    assert control.asked[-1] == 3
    assert mirror.gaps == 0


def test_the_journal_mirror_counts_entries_lost_from_the_ring_buffer() -> None:
    control = FakeControl()
    control.entries = {0: {"seq": 0, "end": 1.0}}
    mirror = _JournalMirror(control)  # type: ignore[arg-type]
    mirror.poll()
    control.entries = {5: {"seq": 5, "end": 1.0}}  # 1..4 fell out before this poll
    mirror.poll()
    assert mirror.gaps == 4


def _row(name: str, **kw: Any) -> StrategySummary:
    base: dict[str, Any] = {
        "strategy": name,
        "offered": 60.0,
        "goodput": 30.0,
        "success_rate": 0.5,
        "amplification": 1.0,
        "p50_ms": 10.0,
        "p95_ms": 100.0,
        "p99_ms": 200.0,
        "rate_529": 0.5,
        "recovery_s": 2.0,
        "recovered": True,
        "attempts": 100,
        "calls": 100,
        "locust_attempts": 100,
        "locust_calls": 100,
        "harness_dropped": 0,
        "window_amplification": 1.0,
    }
    base.update(kw)
    return StrategySummary(**base)


def test_the_markdown_table_has_a_row_per_strategy_and_says_when_a_run_never_recovered() -> None:
    table = markdown_table(
        [_row("no-retry"), _row("sdk-defaults", recovery_s=None, recovered=False), _row("x", recovered=None)],
        run_end_after_trigger=20,
    )
    lines = table.strip().splitlines()
    assert len(lines) == 5
    assert "| no-retry | 60.00 | 30.00 | 50.0 % |" in lines[2]
    assert "not within the run (> 20 s)" in lines[3]
    assert "n/a (no trigger)" in lines[4]


def test_recovery_is_not_judged_when_no_retry_had_nothing_to_recover() -> None:
    # a short --time-scale: the trigger costs no-retry nothing, so "as fast as no-retry" judges nothing
    loss = {
        "no-retry": _row("no-retry", recovery_s=0.0),
        "bundled": _row("bundled", recovery_s=0.0),
        "bundled-adaptive": _row("bundled-adaptive", recovery_s=2.0),
    }
    by_claim = {t.claim: t for t in headline_targets({}, loss, {})}
    for b in ("bundled", "bundled-adaptive"):
        target = by_claim[f"recovery after the trigger: {b} ≤ 1.2× no-retry"]
        assert target.met is None
        assert "nothing to recover" in target.measured


def test_headline_targets_compare_the_bundled_policy_with_each_reference() -> None:
    overload = {
        "no-retry": _row("no-retry", goodput=30.0),
        "sdk-defaults": _row("sdk-defaults", goodput=15.0, window_amplification=3.0),
        "article-recipe": _row("article-recipe", goodput=25.0),
        "bundled": _row("bundled", goodput=29.0, window_amplification=1.05),
    }
    loss = {
        "no-retry": _row("no-retry", recovery_s=4.0),
        "sdk-defaults": _row("sdk-defaults", recovery_s=None, recovered=False, goodput_from_trigger=0.0),
        "article-recipe": _row("article-recipe", recovery_s=9.0, goodput_from_trigger=6.0),
        "bundled": _row("bundled", recovery_s=5.0, goodput_from_trigger=8.0),
    }
    queue = {
        "sdk-defaults": _row("sdk-defaults", goodput=2.0),
        "bundled": _row("bundled", goodput=14.0),
    }
    by_claim = {t.claim: t for t in headline_targets(overload, loss, queue)}
    assert by_claim["goodput at 2× overload (server sheds): bundled ≥ 1.5× sdk-defaults"].met is True
    assert by_claim["goodput at 2× overload (server sheds): bundled ≥ 1.5× article-recipe"].met is False
    assert by_claim["goodput at 2× overload (server sheds): bundled ≥ 0.95× no-retry"].met is True
    assert by_claim["goodput at 2× overload (server queues): bundled ≥ 1.5× sdk-defaults"].met is True
    assert by_claim["goodput at 2× overload (server queues): bundled ≥ 0.95× no-retry"].met is None
    assert by_claim["amplification during 100 % 529: bundled ≤ 1.10 attempts per call"].met is True
    assert by_claim["recovery after the trigger: bundled ≤ 1.2× no-retry"].met is False  # 5.0 > 4.8
    assert by_claim["sdk-defaults shown not recovering within the run"].met is True
    assert by_claim["article-recipe shown not recovering within the run"].met is False
    assert by_claim["goodput at 2× overload (server sheds): bundled-adaptive ≥ 1.5× sdk-defaults"].met is None
    assert by_claim["goodput from the trigger on (capacity loss): bundled ≥ 1.5× sdk-defaults"].met is True
    assert by_claim["goodput from the trigger on (capacity loss): bundled ≥ 1.5× article-recipe"].met is False
    text = targets_table(list(by_claim.values()))
    assert (
        "| goodput at 2× overload (server sheds): bundled ≥ 1.5× sdk-defaults "
        "| 29.0 vs 15.0 calls/s = 1.93× | met |" in text
    )


def test_the_headline_scenarios_are_valid_for_the_fault_engine_at_any_time_scale(tmp_path: Path) -> None:
    for path in sorted(SCENARIO_DIR.glob("*.yaml")):
        load_scenario(str(path))
    experiments = headline_experiments(tmp_path, HeadlineOptions(time_scale=0.25))
    for exp in experiments:
        scenario = load_scenario(exp.scenario)
        assert scenario.capacity is not None
    overload, queue, loss = experiments
    assert overload.rate == queue.rate == pytest.approx(2 * CAPACITY)
    assert (overload.measure, overload.overload_window) == (queue.measure, queue.overload_window)
    assert loss.trigger == Window(2.5, 5.0)
    scaled = yaml.safe_load(Path(loss.scenario).read_text())
    assert scaled["capacity"]["schedule"][0] == {"start_s": 2.5, "end_s": 5.0, "factor": 0.5}


def test_every_headline_scenario_is_one_service_whose_rejections_cost_slot_time() -> None:
    pools = [load_scenario(str(path)).capacity for path in sorted(SCENARIO_DIR.glob("*.yaml"))]
    assert len(pools) >= 2
    for cap in pools:
        assert cap is not None and len(cap.pools) == 1
        p = cap.pools[0]
        # the same 4 slots of 0.26 s (CAPACITY) and the same 10 ms per rejection everywhere
        assert (p.concurrency, p.ttft_s, p.stream_tokens_per_s, p.expected_output_tokens) == (4, 0.1, 100, 16)
        assert p.slowdown == 0 and p.shed_cost_s == 0.01
        assert p.concurrency / (p.ttft_s + 16 / p.stream_tokens_per_s) == pytest.approx(CAPACITY)


def test_scaling_a_scenario_scales_only_times() -> None:
    data = {"rules": [{"when": {"window": {"start_s": 10, "end_s": 20}}, "fault": 529}], "capacity": {"x": 8}}
    assert scale_scenario(data, 0.5) == {
        "rules": [{"when": {"window": {"start_s": 5.0, "end_s": 10.0}}, "fault": 529}],
        "capacity": {"x": 8},
    }


def test_charts_are_written_as_png_files_one_per_metric(tmp_path: Path) -> None:
    s = Series(
        1.0,
        [0.0, 1.0, 2.0],
        [3.0, 4.0, 5.0],
        [1.0, 2.0, 2.0],
        [2.0, 2.0, 2.0],
        [0.5, None, 0.0],
        [1.0, 2.0, 0.5],
    )
    files = draw_charts(
        {"a": s, "b": s}, tmp_path, title="t", trigger=Window(1, 2), overload_window=Window(0, 1)
    )
    assert [f.name for f in files] == [name for _, _, name in CHARTS]
    for f in files:
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_target_says_met_not_met_or_not_measured() -> None:
    assert [Target("c", "m", v).verdict for v in (True, False, None)] == ["met", "not met", "not measured"]
