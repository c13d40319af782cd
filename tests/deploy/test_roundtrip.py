"""Every node, dependency, resource and environment variable of the application appears in
each export, read back from the written files (not from the exporter's objects)."""

import pytest
import yaml

from scanflow.app import parse_cpu, parse_memory
from scanflow.app.plan import build_plan, param_env
from scanflow.deploy import export


def expected(app):
    plan = build_plan(app)
    nodes = {}
    for node in plan.nodes.values():
        spec = node.executor
        res = spec.resources
        nodes[node.id] = {
            "deps": set(node.deps),
            "cpu": res.cpu_cores, "memory": res.memory_bytes, "gpu": res.gpu,
            "env": {**param_env(spec.parameters), **spec.env},
        }
    for svc in app.services:
        nodes[f"service:{svc.name}"] = {"deps": None, "cpu": svc.resources.cpu_cores,
                                        "memory": svc.resources.memory_bytes, "gpu": None, "env": dict(svc.env)}
    for agent in app.agents:
        nodes[f"agent:{agent.name}"] = {"deps": None, "cpu": None, "memory": None, "gpu": None, "env": dict(agent.env)}
    return nodes


def from_compose(path, swarm):
    doc = yaml.safe_load(path.read_text())
    ref = {name: s["labels"]["io.scanflow.ref"] for name, s in doc["services"].items()}
    found = {}
    for name, svc in doc["services"].items():
        if ref[name] == "tracker":
            continue
        deps = svc.get("depends_on", [])
        res = svc.get("deploy", {}).get("resources", {})
        gpu = None
        if swarm and "generic_resources" in res.get("reservations", {}):
            gpu = res["reservations"]["generic_resources"][0]["discrete_resource_spec"]["value"]
        elif "devices" in res.get("reservations", {}):
            gpu = res["reservations"]["devices"][0]["count"]
        limits = res.get("limits", {})
        found[ref[name]] = {
            "deps": {ref[d] for d in deps if ref[d] != "tracker"},
            "cpu": float(limits["cpus"]) if "cpus" in limits else None,
            "memory": parse_memory(limits["memory"].replace("M", "Mi")) if "memory" in limits else None,
            "gpu": gpu, "env": svc["environment"],
        }
    return found


def from_kubernetes(files):
    objs = []
    for name, path in files.items():
        if name.endswith(".yaml") and name != "kustomization.yaml":
            objs += [o for o in yaml.safe_load_all(path.read_text()) if o]
    config = next(o for o in objs if o["kind"] == "ConfigMap")["data"]
    secret = next(o for o in objs if o["kind"] == "Secret")["stringData"]

    def env_of(container):
        env = dict(config)
        for e in container.get("env", []):
            env[e["name"]] = e["value"] if "value" in e else secret[e["valueFrom"]["secretKeyRef"]["key"]]
        return env

    def res_of(container):
        res = container.get("resources", {})
        req, lim = res.get("requests", {}), res.get("limits", {})
        return {"cpu": parse_cpu(req["cpu"]) if "cpu" in req else None,
                "memory": parse_memory(req["memory"]) if "memory" in req else None,
                "gpu": int(lim["nvidia.com/gpu"]) if "nvidia.com/gpu" in lim else None}

    found = {}
    workflows = [o for o in objs if o["kind"] == "Workflow"]
    exits_of_workflow = {}
    for wf in sorted(workflows, key=lambda w: "scanflow.io/run-after" in w["metadata"].get("annotations", {})):
        templates = {t["name"]: t for t in wf["spec"]["templates"]}
        after = wf["metadata"].get("annotations", {}).get("scanflow.io/run-after")
        entry = set().union(*(exits_of_workflow[w] for w in after.split(","))) if after else set()

        def walk(name, entry_deps, templates=templates):
            """Flatten a DAG template: returns the refs that finish it."""
            done, tasks = {}, templates[name]["dag"]["tasks"]
            for task in tasks:
                deps = set().union(*(done[d] for d in task.get("dependencies", []))) if task.get("dependencies") else set(entry_deps)
                t = templates[task["template"]]
                if "dag" in t:
                    done[task["name"]] = walk(task["template"], deps)
                else:
                    c = t["container"]
                    ref = env_of(c)["SCANFLOW_NODE"]
                    found[ref] = {"deps": deps, **res_of(c), "env": env_of(c)}
                    done[task["name"]] = {ref}
            used = {d for task in tasks for d in task.get("dependencies", [])}
            return set().union(*(done[t["name"]] for t in tasks if t["name"] not in used))

        root = wf["spec"]["entrypoint"]
        exits_of_workflow[root] = walk(root, entry)
    for dep in (o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] != "tracker"):
        c = dep["spec"]["template"]["spec"]["containers"][0]
        env = env_of(c)
        ref = f"agent:{env['SCANFLOW_AGENT']}" if "SCANFLOW_AGENT" in env else f"service:{env['SCANFLOW_SERVICE']}"
        found[ref] = {"deps": None, **res_of(c), "env": env}
    return found


@pytest.mark.parametrize("target", ["compose", "swarm", "kubernetes"])
def test_every_node_dependency_resource_and_variable_appears_in_the_export(app, tmp_path, target):
    files = export(app, target, tmp_path / target)
    found = from_kubernetes(files) if target == "kubernetes" else from_compose(files[target], target == "swarm")
    want = expected(app)
    assert set(found) == set(want)
    for ref, w in want.items():
        got = found[ref]
        if w["deps"] is not None:
            assert got["deps"] == w["deps"], ref
        assert got["cpu"] == w["cpu"], ref
        assert (got["memory"] is None) == (w["memory"] is None), ref
        if w["memory"] is not None:
            assert 0 <= got["memory"] - w["memory"] < 2**20, ref  # rounded up to whole MiB at most
        assert got["gpu"] == w["gpu"], ref
        for key, value in w["env"].items():
            assert got["env"].get(key) == value, (ref, key)
        if not ref.startswith(("service:", "agent:")):
            assert got["env"]["SCANFLOW_NODE"] == ref
        assert got["env"]["MLFLOW_TRACKING_URI"] == "http://tracker:5000"
