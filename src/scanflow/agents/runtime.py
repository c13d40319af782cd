"""The agent runtime: runs agents concurrently in one asyncio loop, crash-safe through the store.

One :class:`AgentRuntime` supervises some agents of an application (all of them in the
embedded default; one per process when each agent is deployed as its own service, see
:mod:`scanflow.agents.service`). Each agent is a task of the loop; its blocking work (polling
sensors, deciding, acting) runs in a worker thread so that agents never wait on each other.

One step of an agent:

1. if it is paused (persisted in the state database), do nothing;
2. poll the sensors that are due (or triggered by hand); each firing is stored as a message to
   the agent together with the sensor's new cursor, in one commit;
3. handle its inbox in order. For each message, each rule that listens to the message kind
   decides; the decision is stored (key ``<message key>/<rule>``) before anything is done, and
   its actions are run through the action log (``started`` -> actuator -> ``done`` + outgoing
   messages). The message is marked handled, with the agent's new memory, in one commit.

Killed anywhere in between, a restarted runtime re-reads the inbox, replays stored decisions,
skips ``done`` actions and asks actuators to re-check ``started`` ones: nothing is lost and no
action runs twice.

>>> from scanflow.agents import AgentDefinition, IntervalSensor, FunctionRule, Decision
>>> seen = []
>>> agent = AgentDefinition("clock", sensors=[IntervalSensor("tick", every=3600)],
...     rules=[FunctionRule("log", "sensor.tick", lambda e, ctx: Decision("tick", "the hour began"))])
>>> rt = AgentRuntime([agent], "sqlite://")
>>> rt.run_once() >= 1, [d["decision"] for d in rt.history()]
(True, ['tick'])
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from scanflow.app import Agent, Application

from .agent import AgentDefinition, build_agent
from .config import AgentConfigError
from .context import AgentContext
from .messages import validate_payload
from .rules import Event
from .services import AgentServices
from .store import MessageRecord, StateStore, default_state_url

__all__ = ["AgentRuntime", "runtime_is_alive"]

log = logging.getLogger("scanflow.agents")

HEARTBEAT_FRESH = 15.0  # seconds: a runtime that beat more recently than this is alive


def _definitions(specs: list[Any], agents: Sequence[str] | None,
                 config: dict[str, dict[str, Any]], app: Application | None) -> list[AgentDefinition]:
    """The definitions of the agents to run: each spec built with its config overrides.

    Every agent's configuration problems are reported at once (one :class:`AgentConfigError`).
    """
    wanted = set(agents) if agents is not None else None
    known = [s.name for s in specs]
    for name in wanted or ():
        if name not in known:
            raise KeyError(f"no agent {name!r} to run (agents: {', '.join(known) or 'none'})")
    root = app.root if app is not None else None
    definitions: list[AgentDefinition] = []
    problems: list[str] = []
    for spec in specs:
        if wanted is not None and spec.name not in wanted:
            continue
        if isinstance(spec, Agent):
            try:
                definitions.append(build_agent(spec, config.get(spec.name), root=root, app=app))
            except AgentConfigError as exc:
                problems.append(str(exc))
        elif isinstance(spec, AgentDefinition):
            spec.config.update(config.get(spec.name, {}))
            definitions.append(spec)
        else:
            raise TypeError(f"expected an Application, Agent specs or AgentDefinitions, got "
                            f"{type(spec).__name__}")
    if problems:
        raise AgentConfigError("\n".join(problems))
    return definitions


class AgentRuntime:
    """Run agents: ``start()``/``stop()`` in a background thread, ``run_until(predicate,
    timeout)`` or ``run_forever()`` in this one, ``run_once()`` for one synchronous pass.

    Args:
        app_or_agents: an :class:`~scanflow.app.Application` (its ``agents`` are built with
            :func:`~scanflow.agents.agent.build_agent`), or a list of agent specs / definitions.
        state_url: the state database; default ``sqlite:///<app.state_path>/scanflow.db``.
        agents: run only these agents (names); the others may run in other processes.
        config: per-agent overrides of ``Agent.config``, e.g. ``{"checker": {"detector": det}}``
            (Python objects allowed: a fitted detector, a gate function...).
        services: the parts agents use (:class:`~scanflow.agents.services.AgentServices`), or
            a dict of some of them (``{"registry": my_registry}``); the others get their
            defaults for the application.
        poll_interval: the longest an idle agent sleeps before looking again at its inbox,
            pause flag and manual triggers written by other processes (seconds).
        max_attempts: deliveries of a message before it is marked ``failed`` (dead letter).
        retry_backoff: seconds before a failed message is retried, doubling per attempt.
    """

    def __init__(self, app_or_agents: Any, state_url: str | None = None, *,
                 agents: Sequence[str] | None = None,
                 config: dict[str, dict[str, Any]] | None = None,
                 services: AgentServices | dict[str, Any] | None = None,
                 poll_interval: float = 1.0, max_attempts: int = 5,
                 retry_backoff: float = 1.0, heartbeat_every: float = 5.0):
        self.app: Application | None = None
        if isinstance(app_or_agents, Application):
            self.app = app_or_agents
            specs: list[Any] = list(app_or_agents.agents)
        else:
            specs = list(app_or_agents)
        definitions = _definitions(specs, agents, config or {}, self.app)
        if state_url is None:
            if self.app is None:
                raise ValueError("state_url is required when no Application is given "
                                 "(e.g. 'sqlite:///state/scanflow.db')")
            state_url = default_state_url(self.app)
        self.store = StateStore(state_url)
        self.services = (services if isinstance(services, AgentServices)
                         else AgentServices.for_app(self.app, self.store, **(services or {})))
        self.definitions: dict[str, AgentDefinition] = {d.name: d for d in definitions}
        self.contexts: dict[str, AgentContext] = {
            d.name: AgentContext(name=d.name, kind=d.kind, store=self.store, config=d.config,
                                 services=self.services, app=self.app, talks_to=d.talks_to,
                                 supervises=d.supervises, memory=self.store.memory(d.name))
            for d in definitions
        }
        for definition in definitions:
            if definition.on_start is not None:
                definition.on_start(self.contexts[definition.name])
        self.poll_interval = float(poll_interval)
        self.max_attempts = int(max_attempts)
        self.retry_backoff = float(retry_backoff)
        self._retry_at: dict[int, float] = {}
        self.heartbeat_every = float(heartbeat_every)
        self.errors: dict[str, str] = {}
        self._last_poll: dict[tuple[str, str], float] = {}
        self._locks = {name: threading.Lock() for name in self.definitions}
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: dict[str, asyncio.Event] = {}
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    # -- one step of one agent (runs in a worker thread) -----------------------------------
    def step(self, name: str, *, poll_all: bool = False, now: float | None = None) -> int:
        """Poll due sensors, then handle the inbox; returns how many events and messages.

        Other runtimes may run the same agent (replicas, in other processes or hosts): a step
        is taken under the agent's lock in the state database
        (:class:`~scanflow.storage.locks.NamedLocks`), so one replica at a time handles its
        inbox; while another holds it this one does nothing (0). The agent's memory is read
        again under the lock, since another replica may have handled messages meanwhile.
        """
        with self._locks[name], self._counting():
            lock = f"scanflow.agent:{name}"
            if not self.store.db.locks.try_lock(lock):
                return 0
            try:
                return self._locked_step(name, poll_all, now)
            finally:
                self.store.db.locks.unlock(lock)

    def _locked_step(self, name: str, poll_all: bool, now: float | None) -> int:
        definition, ctx = self.definitions[name], self.contexts[name]
        if self.store.paused([name])[name]:
            return 0
        ctx.memory = self.store.memory(name)
        now = time.time() if now is None else now
        done = self._poll_sensors(definition, ctx, now, poll_all)
        for msg in self.store.inbox(name):
            if self._stopping.is_set() and self._loop is not None:
                break
            if self._retry_at.get(msg.id, 0.0) > time.time():
                break  # backing off after a failure; later messages wait (order is kept)
            if self._handle(definition, ctx, msg):
                done += 1
            else:
                break
        return done

    def _counting(self):
        runtime = self

        class _Busy:
            def __enter__(self):
                with runtime._busy_lock:
                    runtime._busy += 1

            def __exit__(self, *exc):
                with runtime._busy_lock:
                    runtime._busy -= 1
        return _Busy()

    def _poll_sensors(self, definition: AgentDefinition, ctx: AgentContext, now: float,
                      poll_all: bool) -> int:
        name = definition.name
        fired = 0
        triggers = self.store.pending_triggers([name])
        cursors = self.store.cursors(name)
        sensors = {s.name: s for s in definition.sensors}
        for tid, _agent, sensor_name in triggers:
            sensor = sensors.get(sensor_name)
            if sensor is None:
                log.warning("agent %s: trigger #%s names no sensor %r; dropped", name, tid, sensor_name)
                self.store.consume_trigger(tid)
                continue
            fired += self._poll_one(ctx, sensor, cursors, now, trigger_id=tid)
        for sensor in definition.sensors:
            last = self._last_poll.get((name, sensor.name))
            if not poll_all and sensor.next_due(now, last) > now:
                continue
            self._last_poll[(name, sensor.name)] = now
            for _ in range(1000):  # a backlog comes out as successive fixed-size events
                n = self._poll_one(ctx, sensor, cursors, now)
                if not n or self._stopping.is_set():
                    break
                fired += n
        return fired

    def _poll_one(self, ctx: AgentContext, sensor: Any, cursors: dict[str, Any], now: float,
                  trigger_id: int | None = None) -> int:
        try:
            obs = sensor.poll(ctx, cursors.get(sensor.name), now, trigger_id is not None)
        except Exception as exc:  # a broken source must not stop the agent
            self.errors[ctx.name] = f"sensor {sensor.name}: {exc}"
            log.warning("agent %s: sensor %s failed: %s", ctx.name, sensor.name, exc)
            if trigger_id is not None:
                self.store.consume_trigger(trigger_id)
            return 0
        if obs is None:
            return 0
        token = f"trigger-{trigger_id}" if trigger_id is not None else obs.token
        payload = {"sensor": sensor.name, "forced": trigger_id is not None, "time": now, **obs.payload}
        created = self.store.fire(ctx.name, sensor.name, obs.cursor, f"{ctx.name}/{sensor.name}/{token}",
                                  sensor.kind, payload, trigger_id=trigger_id)
        cursors[sensor.name] = obs.cursor
        return 1 if created else 0

    def _handle(self, definition: AgentDefinition, ctx: AgentContext, msg: MessageRecord) -> bool:
        """Decide and act on one message; False means "stop for now, retry it later"."""
        self.store.mark_delivered(msg.id)
        event = Event(key=msg.key, sender=msg.sender, kind=msg.kind, payload=msg.payload)
        before = dict(ctx.memory)
        memory = dict(ctx.memory)
        try:
            for rule in definition.rules:
                if not rule.matches(msg.kind):
                    continue
                dkey = f"{msg.key}/{rule.name}"
                rec = self.store.decision(dkey)
                if rec is None:
                    ctx.memory = memory
                    decision = rule.evaluate(event, ctx)
                    if decision is None:
                        continue
                    if not decision.record:
                        if decision.actions:
                            raise ValueError(f"rule {rule.name!r} returned an unrecorded decision "
                                             "with actions: every action needs a stored decision")
                        memory.update(decision.memory)
                        continue
                    for act in decision.actions:
                        if act.actuator not in definition.actuators:
                            raise ValueError(f"rule {rule.name!r} asked for actuator {act.actuator!r}, "
                                             f"which agent {definition.name!r} does not have")
                    rec = self.store.record_decision(
                        dkey, definition.name, msg.key, rule.name, decision.decision, decision.reason,
                        decision.inputs, [a.to_dict() for a in decision.actions], decision.memory)
                    log.info("agent %s: %s -> %s (%s)", definition.name, rule.name, rec.decision, rec.reason)
                memory.update(rec.memory)
                for i, act in enumerate(rec.actions):
                    self._act(definition, ctx, f"{dkey}/{i}-{act['actuator']}", dkey, act)
            self.store.mark_handled(msg.id, definition.name, memory)
            ctx.memory = memory
            self._retry_at.pop(msg.id, None)
            return True
        except Exception as exc:
            ctx.memory = before
            final = msg.attempts + 1 >= self.max_attempts
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            self.errors[definition.name] = f"message {msg.key}: {detail}"
            log.warning("agent %s: handling %s failed (attempt %d/%d): %s", definition.name, msg.key,
                        msg.attempts + 1, self.max_attempts, detail)
            self.store.mark_failed(msg.id, detail, final)
            if not final:
                delay = min(60.0, self.retry_backoff * 2 ** msg.attempts)
                self._retry_at[msg.id] = time.time() + delay
            return False

    def _act(self, definition: AgentDefinition, ctx: AgentContext, key: str, dkey: str,
             act: dict[str, Any]) -> None:
        rec = self.store.action(key)
        if rec is not None and rec.status == "done":
            return
        actuator = definition.actuators[act["actuator"]]
        params = actuator.params(dict(act.get("params") or {}))  # the log shows what really ran
        if rec is not None and rec.status == "started":
            # Interrupted between 'started' and 'done': look before acting again.
            result = actuator.recover(ctx, params, key)
            if result is not None:
                self.store.finish_action(key, definition.name, result.result, result.messages)
                return
        self.store.start_action(key, definition.name, dkey, actuator.name, params)
        try:
            result = actuator.run(ctx, params, key)
        except Exception as exc:
            self.store.fail_action(key, f"{type(exc).__name__}: {exc}")
            raise
        self.store.finish_action(key, definition.name, result.result, result.messages)

    # -- the loop ------------------------------------------------------------------------
    async def serve(self) -> None:
        """Run every agent until :meth:`stop` (a coroutine: embed it in a FastAPI lifespan)."""
        self._loop = asyncio.get_running_loop()
        self._stopping.clear()
        self._wake = {name: asyncio.Event() for name in self.definitions}
        self.store.heartbeat(self.definitions)
        tasks = [asyncio.create_task(self._agent_loop(name), name=f"agent:{name}")
                 for name in self.definitions]
        tasks.append(asyncio.create_task(self._heartbeat_loop(), name="agents:heartbeat"))
        self._started.set()
        try:
            await asyncio.gather(*tasks)
        finally:
            self._started.clear()
            self._loop = None
            try:
                self.store.clear_heartbeat(list(self.definitions))
            except Exception:  # pragma: no cover - database gone while stopping
                pass

    async def _agent_loop(self, name: str) -> None:
        while not self._stopping.is_set():
            try:
                n = await asyncio.to_thread(self.step, name)
            except Exception as exc:  # the store itself failed (database down...): keep trying
                log.warning("agent %s: step failed: %s", name, exc)
                self.errors[name] = str(exc)
                n = 0
            if n:
                self._wake_all()  # messages may be waiting for the others
                continue
            try:
                await asyncio.wait_for(self._wake[name].wait(), self._sleep_for(name))
            except TimeoutError:
                pass
            self._wake[name].clear()

    async def _heartbeat_loop(self) -> None:
        while not self._stopping.is_set():
            await asyncio.sleep(min(self.heartbeat_every, 0.2))
            last = getattr(self, "_last_beat", 0.0)
            if time.time() - last >= self.heartbeat_every:
                self._last_beat = time.time()
                try:
                    await asyncio.to_thread(self.store.heartbeat, list(self.definitions))
                except Exception as exc:  # pragma: no cover - database down
                    log.warning("heartbeat failed: %s", exc)

    def _sleep_for(self, name: str) -> float:
        now = time.time()
        due = [s.next_due(now, self._last_poll.get((name, s.name))) for s in self.definitions[name].sensors]
        return max(0.0, min([self.poll_interval, *(d - now for d in due)]))

    def _wake_all(self) -> None:
        for event in self._wake.values():
            event.set()

    def wake(self, name: str | None = None) -> None:
        """Make an agent (or all) look at its inbox now; callable from any thread."""
        loop = self._loop
        if loop is None:
            return
        targets = [self._wake[name]] if name in self._wake else list(self._wake.values())
        for event in targets:
            loop.call_soon_threadsafe(event.set)

    def start(self, timeout: float = 10.0) -> AgentRuntime:
        """Run the agents in a background thread; returns once they are running."""
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stopping.clear()
        self._thread = threading.Thread(target=lambda: asyncio.run(self.serve()),
                                        name="scanflow-agents", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout):
            raise RuntimeError("the agent runtime did not start within "
                               f"{timeout:g}s; see the 'scanflow.agents' log")
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every agent to finish its current step, then stop the loop."""
        self._stopping.set()
        self.wake()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_until(self, predicate: Callable[[AgentRuntime], bool], timeout: float) -> bool:
        """Run in this thread until ``predicate(runtime)`` is true (True) or ``timeout`` (False).

        When the agents already run in the background (:meth:`start`), this only waits for the
        predicate: a second loop would race the first for the agents' wake-up events."""
        if self._thread is not None and self._thread.is_alive():
            return self._wait_for(predicate, timeout)

        async def main() -> bool:
            task = asyncio.create_task(self.serve())
            deadline = time.monotonic() + timeout
            ok = False
            try:
                while time.monotonic() < deadline and not task.done():
                    if await asyncio.to_thread(predicate, self):
                        ok = True
                        break
                    await asyncio.sleep(0.05)
            finally:
                self._stopping.set()
                self._wake_all()
                await task
            return ok
        return asyncio.run(main())

    def _wait_for(self, predicate: Callable[[AgentRuntime], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            self.wake()
            time.sleep(0.05)
        return False

    def run_forever(self) -> None:
        """Run until interrupted (Ctrl-C / SIGTERM stop the agents between steps)."""
        async def main() -> None:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self._request_stop)
                except (NotImplementedError, RuntimeError):  # pragma: no cover - not main thread
                    pass
            await self.serve()
        asyncio.run(main())

    def _request_stop(self) -> None:
        self._stopping.set()
        self._wake_all()

    def run_once(self, max_rounds: int = 100) -> int:
        """Poll every sensor once, then handle messages until every inbox is empty.

        Synchronous and deterministic: what tests, notebooks and ``scanflow agents trigger``
        use. Returns the number of events and messages processed.
        """
        total, first = 0, True
        for _ in range(max_rounds):
            n = sum(self.step(name, poll_all=first) for name in self.definitions)
            first = False
            total += n
            if n == 0:
                break
        return total

    # -- control and inspection ----------------------------------------------------------
    def _check_agent(self, agent: str) -> AgentDefinition:
        if agent not in self.definitions:
            raise KeyError(f"no agent {agent!r} (agents: {', '.join(self.definitions) or 'none'})")
        return self.definitions[agent]

    def trigger(self, agent: str, sensor: str | None = None) -> int:
        """Fire ``sensor`` (default: the agent's first) now, whatever its schedule or threshold."""
        definition = self._check_agent(agent)
        if sensor is None:
            if not definition.sensors:
                raise ValueError(f"agent {agent!r} has no sensor to trigger")
            sensor = definition.sensors[0].name
        definition.sensor(sensor)
        tid = self.store.request_trigger(agent, sensor)
        self.wake(agent)
        return tid

    def pause(self, agent: str) -> None:
        """Stop the agent between steps (persisted: it stays paused across restarts)."""
        self._check_agent(agent)
        self.store.set_paused(agent, True)

    def resume(self, agent: str) -> None:
        self._check_agent(agent)
        self.store.set_paused(agent, False)
        self.wake(agent)

    def send(self, recipient: str, kind: str, payload: dict[str, Any] | None = None, *,
             key: str, sender: str = "external") -> int:
        """Put a typed message in an agent's inbox, once per ``key``; returns its id."""
        msg_id, _ = self.store.send(key, sender, recipient, kind, validate_payload(kind, payload))
        self.wake(recipient)
        return msg_id

    def idle(self) -> bool:
        """No message waiting for these agents, no pending trigger, no step running."""
        names = list(self.definitions)
        return (self._busy == 0 and self.store.count_messages(names) == 0
                and not self.store.pending_triggers(names))

    def history(self, agent: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The latest decisions (oldest first), each with its reason and what its actions did."""
        return decision_history(self.store, agent=agent, limit=limit)

    def describe(self) -> list[dict[str, Any]]:
        """Every agent with its sensors, schedules, state and latest decision."""
        return describe_agents(self.store, list(self.definitions.values()), self.errors)


def decision_history(store: StateStore, agent: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    decisions = store.decisions(agent=agent, limit=limit)
    acts = {a.key: a for a in store.actions(agent=agent, limit=max(1000, 10 * limit))}
    out = []
    for d in decisions:
        steps = []
        for i, act in enumerate(d.actions):
            rec = acts.get(f"{d.key}/{i}-{act['actuator']}")
            steps.append({"actuator": act["actuator"], "params": act.get("params", {}),
                          "status": rec.status if rec else "not started",
                          "result": rec.result if rec else None,
                          "error": rec.error if rec else None})
        out.append({"id": d.id, "time": d.created_at, "agent": d.agent, "rule": d.rule,
                    "decision": d.decision, "reason": d.reason, "inputs": d.inputs,
                    "message": d.message_key, "actions": steps})
    return out


def describe_agents(store: StateStore, definitions: list[AgentDefinition],
                    errors: dict[str, str] | None = None) -> list[dict[str, Any]]:
    rows = store.agent_rows()
    out = []
    for d in definitions:
        row = rows.get(d.name, {})
        last = store.decisions(agent=d.name, limit=1)
        cursors = row.get("cursors") or {}
        info = d.info()
        for s in info["sensors"]:
            s["cursor"] = cursors.get(s["name"])
        info.update({
            "paused": bool(row.get("paused", False)),
            "inbox": store.count_messages([d.name]),
            "failed_messages": store.count_messages([d.name], statuses=("failed",)),
            "heartbeat_at": row.get("heartbeat_at"),
            "alive": runtime_is_alive(row.get("heartbeat_at")),
            "last_decision": ({"decision": last[0].decision, "reason": last[0].reason,
                               "time": last[0].created_at} if last else None),
            "error": (errors or {}).get(d.name),
        })
        out.append(info)
    return out


def runtime_is_alive(heartbeat_at: float | None, now: float | None = None) -> bool:
    """Whether a runtime beat recently enough to be running (it beats every few seconds)."""
    return heartbeat_at is not None and (now or time.time()) - heartbeat_at < HEARTBEAT_FRESH
